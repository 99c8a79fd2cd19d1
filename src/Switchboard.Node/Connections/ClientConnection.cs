using System.Buffers;
using System.Net.WebSockets;
using Switchboard.Node.DataPlane;
using Switchboard.Node.Sessions;
using Switchboard.Protocol;

namespace Switchboard.Node.Connections;

/// <summary>
/// One client WebSocket. Its lifetime is <see cref="RunAsync"/>: a receive loop that parses and dispatches
/// commands. Frames for the client go into a bounded queue that a send task drains (see ClientConnection.Sending.cs).
/// A client that does not read fills its queue and is closed with 3008; it never stalls the producers, which only
/// ever try to enqueue.
/// </summary>
public sealed partial class ClientConnection
{
    private const int InitialReceiveBuffer = 4 * 1024;

    private readonly WebSocket _socket;
    private readonly CorkingStream? _cork;
    private readonly IConnectionOwner _owner;
    private readonly NodeOptions _options;
    private readonly TimeProvider _time;
    private readonly WriteDelay? _writeDelay;
    private readonly Lock _enqueueLock = new();
    private TokenBucket _rateLimit;
    private TokenBucket _errorBudget;
    private long _seq;
    private CloseRequest? _close;
    private CancellationTokenSource? _abortTimer;
    private string? _senderName;
    // Session state, guarded by _enqueueLock.
    private SessionMode _mode;
    private ReplayBuffer? _replay;
    private Queue<RoutedMessage>? _pending;
    // Held messages let go past what a session keeps: those not delivered otherwise are reported missed.
    private HeldDrops? _heldDropped;
    // While the session is being taken for this connection's resume: a close meanwhile is settled once it is done.
    private TakeDeferral _closeSettling;
    // From BeginTake until the take's outcome is known: the node's stop leaves this connection's 1012 until then.
    private TakeDeferral _stopClose;
    private Action<RoutedMessage>? _forward;
    private HashSet<long>? _seen;
    private Queue<long>? _seenOrder;
    private long _seenUntil;
    private HandOverFence? _fence;
    // The id of the last message this connection sent (0: none). Written by its receive loop only.
    private long _ownSend;
    private ITimer? _fenceTimer;
    private string _sessionId;
    private int _commands;

    internal ClientConnection(string id, string userId, string sessionId, WebSocket socket, IConnectionOwner owner, NodeOptions options, TimeProvider time,
        bool awaitingResume = false, bool resumeOnly = false, CorkingStream? cork = null, bool messageIds = false, bool confirmSends = false, WriteDelay? writeDelay = null)
    {
        Id = id;
        _writeDelay = writeDelay;
        _cork = cork;
        ResumeOnly = resumeOnly;
        MessageIds = messageIds;
        ConfirmSends = confirmSends;
        UserId = userId;
        _sessionId = sessionId;
        _mode = awaitingResume ? SessionMode.AwaitingResume : SessionMode.Live;
        if (awaitingResume)
        {
            _pending = new Queue<RoutedMessage>();
        }
        _socket = socket;
        _owner = owner;
        _options = options;
        _time = time;
        var now = time.GetTimestamp();
        _rateLimit = new TokenBucket(options.RateLimitBurst, now);
        _errorBudget = new TokenBucket(options.ProtocolErrorBudget, now);
    }

    /// <summary>The connection id, <c>&lt;nodeId&gt;.&lt;random&gt;</c>.</summary>
    public string Id { get; }

    /// <summary>The user, from the ticket.</summary>
    public string UserId { get; }

    /// <summary>The user as its messages name their sender (<c>user:&lt;id&gt;</c>), made once rather than per message.</summary>
    internal string Sender => _senderName ??= WireNames.Targets.UserPrefix + UserId;

    /// <summary>Opened with a resume-only ticket: it continues its ticket's session or is closed, never starts a new one.</summary>
    internal bool ResumeOnly { get; }

    /// <summary>Opened with <c>ids=1</c>: each <c>message</c> frame carries the message's id in <c>mid</c>.</summary>
    internal bool MessageIds { get; }

    /// <summary>Opened with <c>confirm=1</c>: a <c>send</c> is answered once the backplane's broker has confirmed the message.</summary>
    internal bool ConfirmSends { get; }

    /// <summary>The session: from the ticket, or a new one when a resume found nothing to continue.</summary>
    public string SessionId => Volatile.Read(ref _sessionId);

    /// <summary>Where the session stands: live, waiting for its resume, detached (client gone) or handed over.</summary>
    internal SessionMode Mode
    {
        get
        {
            lock (_enqueueLock)
            {
                return _mode;
            }
        }
    }

    /// <summary>Set once the node asked the client to reconnect elsewhere: any close then keeps the session for its resume.</summary>
    internal volatile bool Moving;

    /// <summary>
    /// Marks a message this connection is about to route as its own send: when the connection is a recipient, its copy
    /// passes the hand-over fence, so it is queued before the reply as on any connection.
    /// </summary>
    internal void MarkOwnSend(long messageId) => Volatile.Write(ref _ownSend, messageId);

    /// <summary>Counts the valid commands received; a <c>resume</c> is accepted only as the first.</summary>
    internal int NextCommandNumber() => Interlocked.Increment(ref _commands);

    /// <summary>The seq of the last message queued to this session.</summary>
    public long LastSeq => Interlocked.Read(ref _seq);

    /// <summary>Why the connection ended, once it has.</summary>
    public CloseReason? ClosedBecause => Volatile.Read(ref _close)?.Reason;

    /// <summary>Groups joined on this node; changed only under the node's membership lock.</summary>
    // Created on first use: most connections never join a group, and an empty set still costs 64 bytes.
    internal HashSet<string> Groups => _groups ??= new(StringComparer.Ordinal);

    private HashSet<string>? _groups;

    /// <summary>Queues a finished frame (welcome, reply, error). False when the queue overflowed or the connection is closing.</summary>
    public bool TryEnqueue(byte[] frame)
    {
        lock (_enqueueLock)
        {
            return Write(new OutboundFrame(frame));
        }
    }

    /// <summary>
    /// Queues a message with the session's next seq and keeps it in the replay buffer. While the session waits for its
    /// resume the message is held; while detached it is only buffered; once handed over it is forwarded to the new
    /// node. A copy already delivered (same <see cref="RoutedMessage.Id"/>, after a resume) is dropped.
    /// False when the queue overflowed or the connection is closing (the message is still in the replay buffer).
    /// </summary>
    public bool TryEnqueue(RoutedMessage message)
    {
        // The seq is taken and the frame queued under one lock, so seq order is queue order.
        lock (_enqueueLock)
        {
            if (_mode == SessionMode.AwaitingResume)
            {
                return Hold(message);
            }
            return Accept(message);
        }
    }

    /// <summary>
    /// Holds a message until the resume is answered; past the queue's capacity the connection is closed with 3008. Held
    /// messages belong to the session whatever becomes of the connection (a take under way may still make it the
    /// session's holder, kept for a resume), so the one that overflowed and those after it are still held, up to what
    /// the replay buffer would keep; past that the oldest held goes, and its seq is reported missed once the session
    /// continues (<see cref="SkipDropped"/>), like any the replay buffer let go. Called under <see cref="_enqueueLock"/>.
    /// </summary>
    private bool Hold(RoutedMessage message)
    {
        if (_pending!.Count >= _options.SendQueueCapacity + _options.ReplayBufferMessages)
        {
            // Not only copies of what the old node buffers: what it forwards after its hand-over, and what was routed
            // here alone, is nowhere else.
            (_heldDropped ??= new HeldDrops(2 * (_options.SendQueueCapacity + _options.ReplayBufferMessages))).Add(_pending.Dequeue().Id);
        }
        _pending.Enqueue(message);
        if (_pending.Count > _options.SendQueueCapacity)
        {
            RequestClose(CloseReason.SlowConsumer, (WebSocketCloseStatus)CloseCodes.SlowConsumer, "send queue overflow: the client reads too slowly", flush: false);
        }
        return Volatile.Read(ref _close) is null;
    }

    /// <summary>Delivers a message that is not held for a resume: through the hand-over fence while there is one, once.</summary>
    private bool Accept(RoutedMessage message)
    {
        if (_fence is not null)
        {
            // Its own send: nothing it sent earlier can still be on the old node's path, and its copy must be queued
            // before the reply to the send.
            if (message.Id == Volatile.Read(ref _ownSend))
            {
                return !FirstTime(message.Id) || Deliver(message);
            }
            if (!_fence.HasEnded(_time.GetTimestamp()))
            {
                var ready = _fence.Admit(message, IsDelivered, out var overflow);
                var accepted = DeliverFirstCopies(ready);
                if (overflow)
                {
                    ReleaseFence();
                }
                return accepted;
            }
            ReleaseFence();
        }
        return !FirstTime(message.Id) || Deliver(message);
    }

    private bool DeliverFirstCopies(IEnumerable<RoutedMessage> messages)
    {
        var accepted = true;
        foreach (var message in messages)
        {
            if (FirstTime(message.Id))
            {
                accepted &= Deliver(message);
            }
        }
        return accepted;
    }

    private bool Deliver(RoutedMessage message)
    {
        switch (_mode)
        {
            case SessionMode.Forwarding:
                _forward!(message);
                return true;
            case SessionMode.Detached:
                Replay.Add(++_seq, message);
                return true;
            default:
                return WriteLive(message);
        }
    }

    /// <summary>Ends the hand-over fence: what it held is delivered, each origin's messages in order.</summary>
    private void ReleaseFence()
    {
        if (_fence is not { } fence)
        {
            return;
        }
        _fence = null;
        _fenceTimer?.Dispose();
        _fenceTimer = null;
        DeliverFirstCopies(fence.Release());
    }

    private bool IsDelivered(long id) => _seen?.Contains(id) == true;

    private bool WriteLive(RoutedMessage message)
    {
        var seq = ++_seq;
        Replay.Add(seq, message);
        return Write(new OutboundFrame(message, seq));
    }

    private ReplayBuffer Replay => _replay ??= new ReplayBuffer(_options.ReplayBufferMessages, _options.ReplayBufferBytes, _options.ReplayBufferAge, _time);

    /// <summary>False when a message with this id was already delivered to this session (only tracked for a while after a resume).</summary>
    private bool FirstTime(long id)
    {
        if (_seen is null)
        {
            return true;
        }
        if (_time.GetTimestamp() > _seenUntil)
        {
            // Past the hand-over window no second copy can arrive any more.
            _seen = null;
            _seenOrder = null;
            return true;
        }
        if (!_seen.Add(id))
        {
            return false;
        }
        _seenOrder!.Enqueue(id);
        if (_seenOrder.Count > SeenCapacity)
        {
            _seen.Remove(_seenOrder.Dequeue());
        }
        return true;
    }

    private const int SeenCapacity = 8192;

    /// <summary>The client acknowledged everything up to <paramref name="seq"/>: the replay buffer lets it go.</summary>
    internal void Acknowledge(long seq)
    {
        lock (_enqueueLock)
        {
            _replay?.TrimThrough(seq);
        }
    }

    /// <summary>The client is gone but may resume: messages are kept (with seqs) until the session is handed over or dropped.</summary>
    internal void Detach()
    {
        lock (_enqueueLock)
        {
            // Held messages become part of the session before the client's absence is.
            ReleaseFence();
            if (_mode is SessionMode.Live or SessionMode.AwaitingResume)
            {
                _mode = SessionMode.Detached;
            }
        }
    }

    /// <summary>
    /// Hands the session to another connection: returns what a client at <paramref name="lastSeq"/> missed and the
    /// session's current seq, and from now on passes every message to <paramref name="forward"/>. Null when
    /// <paramref name="lastSeq"/> is ahead of the session.
    /// </summary>
    internal (ReplayWindow Window, long CurrentSeq)? HandOver(long lastSeq, Action<RoutedMessage> forward)
    {
        lock (_enqueueLock)
        {
            if (lastSeq > _seq || _mode is SessionMode.Forwarding)
            {
                return null;
            }
            ReleaseFence();
            var window = (_replay ?? new ReplayBuffer(1, 1, TimeSpan.Zero, _time)).Since(lastSeq, _seq);
            _mode = SessionMode.Forwarding;
            _forward = forward;
            _replay = null;
            return (window, _seq);
        }
    }

    /// <summary>
    /// Ends the wait for a resume: queues <paramref name="welcome"/>, then the replayed messages with their original
    /// seqs, then continues the session at <paramref name="currentSeq"/> with what arrived meanwhile (minus copies).
    /// </summary>
    /// <param name="welcome">The welcome frame.</param>
    /// <param name="afterWelcome">The reply to the <c>resume</c> command, if it had an id.</param>
    /// <param name="replayed">What the client missed, with the seqs it had.</param>
    /// <param name="currentSeq">The session's seq at the hand-over.</param>
    /// <param name="dedupeWindow">How long copies of delivered messages may still arrive (and are dropped).</param>
    /// <param name="fenceFor">
    /// When the session came from another node, how long that node may still forward: direct messages are held
    /// behind the forwarded ones for that long (see <see cref="HandOverFence"/>). Must be shorter than <paramref name="dedupeWindow"/>.
    /// </param>
    internal void CompleteResume(byte[] welcome, byte[]? afterWelcome, IReadOnlyList<(long Seq, RoutedMessage Message)> replayed, long currentSeq,
        TimeSpan dedupeWindow, TimeSpan? fenceFor = null)
    {
        lock (_enqueueLock)
        {
            _seen = [];
            _seenOrder = new Queue<long>();
            _seenUntil = _time.GetTimestamp() + (long)(dedupeWindow.TotalSeconds * _time.TimestampFrequency);
            _resumeAllowance = (_outbox?.Count ?? 0) + 2 + replayed.Count;
            Write(new OutboundFrame(welcome));
            if (afterWelcome is not null)
            {
                Write(new OutboundFrame(afterWelcome));
            }
            foreach (var (seq, message) in replayed)
            {
                FirstTime(message.Id);
                Replay.Add(seq, message);
                Write(new OutboundFrame(message, seq));
            }
            _seq = Math.Max(_seq, currentSeq);
            if (fenceFor is { } fenceTime && fenceTime > TimeSpan.Zero)
            {
                _fence = new HandOverFence(Id, _time.GetTimestamp() + (long)(fenceTime.TotalSeconds * _time.TimestampFrequency), _options.SendQueueCapacity);
                // Held messages must not wait for a next arrival to be let go.
                _fenceTimer = _time.CreateTimer(static state =>
                {
                    var connection = (ClientConnection)state!;
                    lock (connection._enqueueLock)
                    {
                        connection.ReleaseFence();
                    }
                }, this, fenceTime, Timeout.InfiniteTimeSpan);
            }
            GoLive();
        }
    }

    /// <summary>Ends the wait for a resume with a new session: queues <paramref name="welcome"/>, then what arrived meanwhile.</summary>
    internal void StartFresh(string sessionId, byte[] welcome, byte[]? afterWelcome)
    {
        lock (_enqueueLock)
        {
            Volatile.Write(ref _sessionId, sessionId);
            Write(new OutboundFrame(welcome));
            if (afterWelcome is not null)
            {
                Write(new OutboundFrame(afterWelcome));
            }
            GoLive();
        }
    }

    /// <summary>
    /// Marks the take of the session for this connection's resume as begun: a close from now until <see cref="EndTake"/>
    /// is settled after the take (<see cref="DeferCloseWhileTaking"/>). False when the connection already closes.
    /// </summary>
    internal bool BeginTake()
    {
        lock (_enqueueLock)
        {
            if (Volatile.Read(ref _close) is not null || _mode != SessionMode.AwaitingResume)
            {
                return false;
            }
            _closeSettling.Open();
            _stopClose.Open();
            return true;
        }
    }

    /// <summary>
    /// Called by the node's stop: true when a take is under way, so the 1012 waits for its outcome
    /// (<see cref="TakeWaitingStopClose"/>). Sent now, it would have the client resume elsewhere before any node holds
    /// the session: the old one has let it go, and this one holds it only once the take has ended.
    /// </summary>
    internal bool PostponeStopClose()
    {
        lock (_enqueueLock)
        {
            return _stopClose.TryDefer();
        }
    }

    /// <summary>Called once the take's outcome is known (before <see cref="EndTake"/>): true when the stop's 1012 waits to be sent.</summary>
    internal bool TakeWaitingStopClose()
    {
        lock (_enqueueLock)
        {
            return _stopClose.End();
        }
    }

    /// <summary>
    /// True when a take is under way: whether the closed connection's session is kept depends on its outcome, so the
    /// close is settled when <see cref="EndTake"/> returns it.
    /// </summary>
    internal bool DeferCloseWhileTaking()
    {
        lock (_enqueueLock)
        {
            return _closeSettling.TryDefer();
        }
    }

    /// <summary>Ids of held messages let go that are remembered now, to be checked once the take ends (bounded).</summary>
    internal int HeldDropsTracked
    {
        get
        {
            lock (_enqueueLock)
            {
                return _heldDropped?.Tracked ?? 0;
            }
        }
    }

    /// <summary>Ends the take begun by <see cref="BeginTake"/>; returns why the connection closed meanwhile, if it did.</summary>
    internal CloseReason? EndTake()
    {
        lock (_enqueueLock)
        {
            return _closeSettling.End() ? ClosedBecause : null;
        }
    }

    private void GoLive()
    {
        var pending = _pending ?? new Queue<RoutedMessage>();
        _pending = null;
        if (_mode == SessionMode.AwaitingResume)
        {
            _mode = SessionMode.Live;
        }
        SkipDropped(pending);
        foreach (var message in pending)
        {
            Accept(message);
        }
    }

    /// <summary>
    /// Gives the held messages let go that reached this session no other way (not replayed, no copy still held) seqs
    /// of their own, ahead of what is still held, and lets the replay buffer go up to them: the protocol names one
    /// missed range, from the client's last seq, so a resume then reports them in <c>missedFrom</c>..<c>missedTo</c>.
    /// </summary>
    private void SkipDropped(Queue<RoutedMessage> held)
    {
        if (_heldDropped is not { } dropped)
        {
            return;
        }
        _heldDropped = null;
        var stillHeld = held.Select(m => m.Id).ToHashSet();
        var lost = dropped.Lost(id => stillHeld.Contains(id) || !FirstTime(id));
        if (lost > 0)
        {
            _seq += lost;
            _replay?.TrimThrough(_seq);
        }
    }

    /// <summary>
    /// Starts closing: nothing more is queued, the queue is flushed first when <paramref name="flush"/>, then the
    /// close frame is sent. A client that does not finish the handshake within the close timeout is aborted.
    /// The first request wins.
    /// </summary>
    public void RequestClose(CloseReason reason, WebSocketCloseStatus status, string description, bool flush)
    {
        // Published whole in one exchange, so the send loop never sees a half-set request.
        if (Interlocked.CompareExchange(ref _close, new CloseRequest(reason, status, description, flush), null) is not null)
        {
            return;
        }
        // The timer exists before the send task is told to close: the run loop can only finish (and dispose it) after that.
        // On the node's clock, like the drain and the stop that wait for this close.
        var timer = new CancellationTokenSource(_options.CloseTimeout, _time);
        timer.Token.Register(static s => AbortQuietly((WebSocket)s!), _socket);
        Volatile.Write(ref _abortTimer, timer);
        lock (_enqueueLock)
        {
            // Whatever is queued is sent (or dropped) and then the close frame, by the one send task.
            EnsureSender();
        }
        _owner.OnClosing(this, reason);
    }

    private static void AbortQuietly(WebSocket socket)
    {
        try
        {
            socket.Abort();
        }
        catch (ObjectDisposedException)
        {
            // Already gone: nothing left to abort. A timer callback must never throw.
        }
    }

    /// <summary>
    /// Runs the connection until it has closed. Never throws for network failures. This is the only state an idle
    /// connection keeps parked: the receive loop is inline, and a message is read by a method of its own that exists
    /// only while a message arrives.
    /// </summary>
    internal async Task RunAsync()
    {
        try
        {
            while (true)
            {
                // A zero-byte read waits for data without holding a buffer, so idle connections cost no buffer.
                var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (peek.MessageType == WebSocketMessageType.Close
                    || !await ReceiveMessageAsync(peek).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer vanished or the abort timer fired: a normal way for a connection to end.
        }
        catch (Exception e)
        {
            // A bug, not the network: report it, and close this connection alone with 1011.
            _owner.OnFailed(this, e);
            RequestClose(CloseReason.InternalError, WebSocketCloseStatus.InternalServerError, "internal error", flush: true);
        }
        finally
        {
            try
            {
                if (_socket.State == WebSocketState.CloseReceived)
                {
                    RequestClose(CloseReason.ClientClosed, WebSocketCloseStatus.NormalClosure, string.Empty, flush: false);
                }
                else
                {
                    RequestClose(CloseReason.Aborted, WebSocketCloseStatus.EndpointUnavailable, string.Empty, flush: false);
                }
                Task sending;
                lock (_enqueueLock)
                {
                    // Once a close was requested the send task that sends the close frame stays set.
                    sending = _sender!;
                }
                await sending.ConfigureAwait(false);
                Volatile.Read(ref _abortTimer)?.Dispose();
                _socket.Dispose();
            }
            finally
            {
                _owner.OnEnded(this);
            }
        }
    }

    /// <summary>Reads and processes the message that <paramref name="peek"/> announced; false when a close frame came instead.</summary>
    private async ValueTask<bool> ReceiveMessageAsync(ValueWebSocketReceiveResult peek)
    {
        if (peek.EndOfMessage)
        {
            await ProcessAsync(ReadOnlyMemory<byte>.Empty, peek.MessageType).ConfigureAwait(false);
            return true;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBuffer);
        var count = 0;
        try
        {
            while (true)
            {
                if (count == buffer.Length)
                {
                    // Grow up to one byte past the limit: enough to tell "too big" without reading it all.
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _options.MaxMessageBytes + 1));
                    buffer.AsSpan(0, count).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                var result = await _socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return false;
                }
                count += result.Count;
                if (count > _options.MaxMessageBytes)
                {
                    RequestClose(CloseReason.MessageTooBig, WebSocketCloseStatus.MessageTooBig,
                        $"message exceeds {_options.MaxMessageBytes} bytes", flush: false);
                    return result.EndOfMessage || !await DiscardRestOfMessageAsync(buffer).ConfigureAwait(false);
                }
                if (result.EndOfMessage)
                {
                    await ProcessAsync(buffer.AsMemory(0, count), result.MessageType).ConfigureAwait(false);
                    return true;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads and drops the rest of an oversized message; true when a close frame arrived instead.</summary>
    private async ValueTask<bool> DiscardRestOfMessageAsync(byte[] scratch)
    {
        while (true)
        {
            var result = await _socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return true;
            }
            if (result.EndOfMessage)
            {
                return false;
            }
        }
    }

    private async ValueTask ProcessAsync(ReadOnlyMemory<byte> frame, WebSocketMessageType type)
    {
        if (Volatile.Read(ref _close) is not null)
        {
            return;
        }
        if (type == WebSocketMessageType.Binary)
        {
            RejectFrame(null, new ProtocolError(ErrorCodes.BinaryNotSupported, "protocol v1 uses text frames only"));
            return;
        }
        var parsed = ClientCommandParser.Parse(frame);
        if (!parsed.IsSuccess)
        {
            RejectFrame(parsed.Id, parsed.Error!);
            return;
        }
        if (_options.RateLimitPerSecond > 0 && !_rateLimit.TryTake(_options.RateLimitPerSecond, _options.RateLimitBurst, _time))
        {
            TryEnqueue(ServerFrames.Rejection(parsed.Id, new ProtocolError(ErrorCodes.RateLimited,
                $"more than {_options.RateLimitPerSecond} commands per second; this one was not carried out")));
            return;
        }
        await _owner.HandleCommandAsync(this, parsed.Command).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers a frame that is no valid command. On a connection still waiting for its resume it is a first frame that
    /// is not <c>resume</c>: the connection gets its welcome first, or, with a resume-only ticket, is closed.
    /// </summary>
    private void RejectFrame(string? id, ProtocolError error)
    {
        if (Mode == SessionMode.AwaitingResume && !_owner.StartWithoutResume(this))
        {
            return;
        }
        Reject(id, error);
    }

    /// <summary>Answers a rejected frame; a client that keeps sending them is closed with 3002.</summary>
    internal void Reject(string? id, ProtocolError error)
    {
        TryEnqueue(ServerFrames.Rejection(id, error));
        if (!_errorBudget.TryTake(1, _options.ProtocolErrorBudget, _time))
        {
            RequestClose(CloseReason.ProtocolAbuse, (WebSocketCloseStatus)CloseCodes.TooManyInvalidFrames, "too many invalid frames", flush: true);
        }
    }

    /// <summary>Which way the connection's messages go.</summary>
    internal enum SessionMode
    {
        /// <summary>To the client.</summary>
        Live,
        /// <summary>Held until the client's <c>resume</c> says where the session continues.</summary>
        AwaitingResume,
        /// <summary>The client is gone; into the replay buffer only, until a resume or the grace time.</summary>
        Detached,
        /// <summary>Handed over: to the connection that resumed the session, on another node or this one.</summary>
        Forwarding,
    }

    private sealed record CloseRequest(CloseReason Reason, WebSocketCloseStatus Status, string Description, bool Flush);
}
