using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;
using Switchboard.Protocol;

namespace Switchboard.Node.Connections;

/// <summary>
/// One client WebSocket. Its lifetime is <see cref="RunAsync"/>: a receive loop that parses and dispatches
/// commands, and a send loop that drains a bounded queue. A client that does not read fills its queue
/// and is closed with 3008; it never stalls the producers, which only ever try to enqueue.
/// </summary>
public sealed class ClientConnection
{
    private const int InitialReceiveBuffer = 4 * 1024;

    private readonly WebSocket _socket;
    private readonly IConnectionOwner _owner;
    private readonly NodeOptions _options;
    private readonly TimeProvider _time;
    private readonly Channel<OutboundFrame> _queue;
    private readonly Lock _enqueueLock = new();
    private TokenBucket _rateLimit;
    private TokenBucket _errorBudget;
    private long _seq;
    private CloseRequest? _close;
    private CancellationTokenSource? _abortTimer;

    internal ClientConnection(string id, string userId, string sessionId, WebSocket socket, IConnectionOwner owner, NodeOptions options, TimeProvider time)
    {
        Id = id;
        UserId = userId;
        SessionId = sessionId;
        _socket = socket;
        _owner = owner;
        _options = options;
        _time = time;
        _queue = Channel.CreateBounded<OutboundFrame>(new BoundedChannelOptions(options.SendQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var now = time.GetTimestamp();
        _rateLimit = new TokenBucket(options.RateLimitPerSecond, options.RateLimitBurst, now);
        _errorBudget = new TokenBucket(1, options.ProtocolErrorBudget, now);
    }

    /// <summary>The connection id, <c>&lt;nodeId&gt;.&lt;random&gt;</c>.</summary>
    public string Id { get; }

    /// <summary>The user, from the ticket.</summary>
    public string UserId { get; }

    /// <summary>The session, from the ticket.</summary>
    public string SessionId { get; }

    /// <summary>The seq of the last message queued to this session.</summary>
    public long LastSeq => Interlocked.Read(ref _seq);

    /// <summary>Why the connection ended, once it has.</summary>
    public CloseReason? ClosedBecause => Volatile.Read(ref _close)?.Reason;

    /// <summary>Groups joined on this node; changed only under the node's membership lock.</summary>
    internal HashSet<string> Groups { get; } = new(StringComparer.Ordinal);

    /// <summary>Queues a finished frame (welcome, reply, error). False when the queue overflowed or the connection is closing.</summary>
    public bool TryEnqueue(byte[] frame)
    {
        lock (_enqueueLock)
        {
            return Write(new OutboundFrame(frame));
        }
    }

    /// <summary>Queues a message with the session's next seq. False when the queue overflowed or the connection is closing.</summary>
    public bool TryEnqueue(RoutedMessage message)
    {
        // The seq is taken and the frame queued under one lock, so seq order is queue order.
        lock (_enqueueLock)
        {
            if (!Write(new OutboundFrame(message, _seq + 1)))
            {
                return false;
            }
            _seq++;
            return true;
        }
    }

    private bool Write(OutboundFrame frame)
    {
        if (_queue.Writer.TryWrite(frame))
        {
            return true;
        }
        if (Volatile.Read(ref _close) is null)
        {
            RequestClose(CloseReason.SlowConsumer, (WebSocketCloseStatus)CloseCodes.SlowConsumer, "send queue overflow: the client reads too slowly", flush: false);
        }
        return false;
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
        // The timer exists before the queue completes: the run loop can only finish (and dispose it) after that.
        var timer = new CancellationTokenSource();
        timer.Token.Register(static s => AbortQuietly((WebSocket)s!), _socket);
        Volatile.Write(ref _abortTimer, timer);
        timer.CancelAfter(_options.CloseTimeout);
        _queue.Writer.TryComplete();
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

    /// <summary>Runs the connection until it has closed. Never throws for network failures.</summary>
    internal async Task RunAsync()
    {
        var sending = SendLoopAsync();
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);
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
            if (_socket.State == WebSocketState.CloseReceived)
            {
                RequestClose(CloseReason.ClientClosed, WebSocketCloseStatus.NormalClosure, string.Empty, flush: false);
            }
            else
            {
                RequestClose(CloseReason.Aborted, WebSocketCloseStatus.EndpointUnavailable, string.Empty, flush: false);
            }
            await sending.ConfigureAwait(false);
            Volatile.Read(ref _abortTimer)?.Dispose();
            _socket.Dispose();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        while (true)
        {
            // A zero-byte read waits for data without holding a buffer, so idle connections cost no buffer.
            var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            if (peek.EndOfMessage)
            {
                await ProcessAsync(ReadOnlyMemory<byte>.Empty, peek.MessageType).ConfigureAwait(false);
                continue;
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
                        return;
                    }
                    count += result.Count;
                    if (count > _options.MaxMessageBytes)
                    {
                        RequestClose(CloseReason.MessageTooBig, WebSocketCloseStatus.MessageTooBig,
                            $"message exceeds {_options.MaxMessageBytes} bytes", flush: false);
                        if (!result.EndOfMessage && await DiscardRestOfMessageAsync(buffer).ConfigureAwait(false))
                        {
                            return;
                        }
                        break;
                    }
                    if (result.EndOfMessage)
                    {
                        await ProcessAsync(buffer.AsMemory(0, count), result.MessageType).ConfigureAwait(false);
                        break;
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
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
            Reject(null, new ProtocolError(ErrorCodes.BinaryNotSupported, "protocol v1 uses text frames only"));
            return;
        }
        var parsed = ClientCommandParser.Parse(frame);
        if (!parsed.IsSuccess)
        {
            Reject(parsed.Id, parsed.Error!);
            return;
        }
        if (_options.RateLimitPerSecond > 0 && !_rateLimit.TryTake(_time))
        {
            TryEnqueue(ServerFrames.Rejection(parsed.Id, new ProtocolError(ErrorCodes.RateLimited,
                $"more than {_options.RateLimitPerSecond} commands per second; this one was not carried out")));
            return;
        }
        await _owner.HandleCommandAsync(this, parsed.Command).ConfigureAwait(false);
    }

    /// <summary>Answers a rejected frame; a client that keeps sending them is closed with 3002.</summary>
    internal void Reject(string? id, ProtocolError error)
    {
        TryEnqueue(ServerFrames.Rejection(id, error));
        if (!_errorBudget.TryTake(_time))
        {
            RequestClose(CloseReason.ProtocolAbuse, (WebSocketCloseStatus)CloseCodes.TooManyInvalidFrames, "too many invalid frames", flush: true);
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                {
                    if (Volatile.Read(ref _close) is { Flush: false })
                    {
                        goto Close;
                    }
                    await SendAsync(frame).ConfigureAwait(false);
                }
            }
        Close:
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var close = Volatile.Read(ref _close)!;
                await _socket.CloseOutputAsync(close.Status, close.Description, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The socket was aborted (peer gone, or the abort timer fired). Queued frames die with it.
        }
    }

    private async ValueTask SendAsync(OutboundFrame frame)
    {
        if (frame.Message is null)
        {
            await _socket.SendAsync(frame.Frame.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            _owner.OnFrameSent(isMessage: false);
            return;
        }
        var prefix = frame.Message.FramePrefix;
        var buffer = ArrayPool<byte>.Shared.Rent(prefix.Length + ServerFrames.MessageEndMaxLength);
        try
        {
            prefix.CopyTo(buffer, 0);
            var length = prefix.Length + ServerFrames.WriteMessageEnd(buffer.AsSpan(prefix.Length), frame.Seq);
            await _socket.SendAsync(buffer.AsMemory(0, length), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _owner.OnFrameSent(isMessage: true);
    }

    private sealed record CloseRequest(CloseReason Reason, WebSocketCloseStatus Status, string Description, bool Flush);
}
