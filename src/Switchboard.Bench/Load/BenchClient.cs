using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Bench.Workers;
using Switchboard.Protocol;

namespace Switchboard.Bench.Load;

/// <summary>
/// One bench connection: dials, waits for the welcome, then counts what it receives. When it follows moves, a
/// <c>reconnect</c> frame or a lost connection sends it back through the gateway to resume its session, as the SDKs
/// do. Its counters are written by its own receive loop only and read by the worker's progress reports.
/// </summary>
internal sealed class BenchClient : IAsyncDisposable
{
    private static readonly TimeSpan MoveTimeout = TimeSpan.FromSeconds(30);
    private const int MaxWelcomeBytes = 4096;
    // Rented per message received; one the size of the bench's messages, a larger one rented when a message is larger.
    private const int FrameBufferBytes = 4096;

    private readonly ClientTarget _target;
    private readonly IPAddress? _source;
    private readonly WorkerMeters _meters;
    private readonly bool _followMoves;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Dictionary<int, long> _lastBySender = [];
    private readonly CancellationTokenSource _closing = new();
    // One reference, replaced whole when the client moves: a send reads it once, so it never pairs one connection's
    // state with another's stream.
    private DialedSocket _connection;
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _receiving = Task.CompletedTask;
    private TaskCompletionSource<Incoming>? _pendingReply;
    private long _delivered;
    private long _duplicates;
    private long _lastSeq;
    private volatile string? _nodeId;

    private BenchClient(ClientTarget target, int index, string userId, IPAddress? source, DialedSocket connection, WorkerMeters meters, Welcome? welcome, bool followMoves)
    {
        _target = target;
        Index = index;
        UserId = userId;
        _source = source;
        _connection = connection;
        _meters = meters;
        _followMoves = followMoves;
        _nodeId = welcome?.NodeId;
        Session = welcome?.Session;
        _connected.SetResult();
        _receiving = ReceiveLoopAsync();
    }

    public int Index { get; }

    public string UserId { get; }

    /// <summary>The node that welcomed this client last (null against the baseline).</summary>
    public string? NodeId => _nodeId;

    /// <summary>The session the client resumes when it moves.</summary>
    public string? Session { get; private set; }

    /// <summary>Bench messages received, not counting duplicates.</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>Bench messages received a second time (or out of order) from the same sender.</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Bench messages this client sent.</summary>
    public long Sent;

    /// <summary>The close code the server ended the connection with while the bench still wanted it, or null.</summary>
    public int? ClosedBy { get; private set; }

    public bool IsOpen => _connected.Task.IsCompletedSuccessfully && _connection.Socket.State == WebSocketState.Open;

    /// <summary>Opens a connection and, against Switchboard, waits for its welcome; the handshake time is recorded.</summary>
    public static async Task<BenchClient> ConnectAsync(ClientTarget target, int index, string userId, IPAddress? source, WorkerMeters meters, bool followMoves, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var (connection, welcome) = await OpenAsync(target, userId, source, resume: null, cancellationToken).ConfigureAwait(false);
        meters.Handshake.Record(Stopwatch.GetElapsedTime(started).Ticks / 10);
        return new BenchClient(target, index, userId, source, connection, meters, welcome, followMoves);
    }

    /// <summary>
    /// Sends one text message as one frame, masked by <see cref="MaskedFrame"/> rather than by .NET's WebSocket; sends
    /// from several tasks never interleave. While the client moves, it waits for the new connection.
    /// </summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _connected.Task.WaitAsync(MoveTimeout, cancellationToken).ConfigureAwait(false);
            await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (_connected.Task.IsCompletedSuccessfully)
            {
                break;
            }
            // A move began while this send waited for its turn (see BeginMove): wait for the new connection instead.
            _sendLock.Release();
        }
        var frame = ArrayPool<byte>.Shared.Rent(MaskedFrame.Length(message.Length));
        try
        {
            // As the WebSocket itself would: no message after our close, and a clear error on a connection that ended.
            var connection = _connection;
            if (connection.Socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived) and var state)
            {
                throw new WebSocketException(WebSocketError.InvalidState, $"The connection is {state}.");
            }
            var length = MaskedFrame.Encode(frame, message.Span, (uint)Random.Shared.NextInt64());
            await connection.Stream.WriteAsync(frame.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
            _sendLock.Release();
        }
    }

    /// <summary>Joins a group and waits for the node's reply.</summary>
    public async Task JoinAsync(string group, CancellationToken cancellationToken)
    {
        var reply = new TaskCompletionSource<Incoming>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingReply = reply;
        var frame = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, string>
        {
            [WireNames.Fields.Type] = WireNames.Types.Join,
            [WireNames.Fields.Group] = group,
            [WireNames.Fields.Id] = "join",
        }));
        await SendAsync(frame, cancellationToken).ConfigureAwait(false);
        var answer = await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!answer.Ok)
        {
            throw new InvalidOperationException($"The node refused to join '{group}': {answer.Code}.");
        }
    }

    /// <summary>Closes normally (the bench is done with it).</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            if (_connection.Socket.State == WebSocketState.Open)
            {
                await _connection.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bench done", cancellationToken).ConfigureAwait(false);
            }
            await _receiving.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            _connection.Socket.Abort();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _closing.Cancel();
        _connection.Socket.Abort();
        _connection.Socket.Dispose();
        await _receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _sendLock.Dispose();
        _closing.Dispose();
    }

    /// <summary>Dials, and against Switchboard waits for the welcome (sending <c>resume</c> first when it resumes a session).</summary>
    private static async Task<(DialedSocket, Welcome?)> OpenAsync(ClientTarget target, string userId, IPAddress? source, (string Session, long LastSeq)? resume, CancellationToken cancellationToken)
    {
        var url = await target.ResolveAsync(userId, resume?.Session, cancellationToken).ConfigureAwait(false);
        var connection = await WebSocketDialer.ConnectAsync(url, source, target.SpeaksProtocol ? WireNames.Subprotocol : null, cancellationToken).ConfigureAwait(false);
        var socket = connection.Socket;
        if (!target.SpeaksProtocol)
        {
            return (connection, null);
        }
        try
        {
            if (resume is { } r)
            {
                var frame = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
                {
                    [WireNames.Fields.Type] = WireNames.Types.Resume,
                    // With an id, a refused resume (unknown_session: its node died) is answered by a reply, counted as
                    // an error; without one it came as an error frame, which the bench counts as a refused message.
                    [WireNames.Fields.Id] = "resume",
                    [WireNames.Fields.Session] = r.Session,
                    [WireNames.Fields.LastSeq] = r.LastSeq,
                });
                await socket.SendAsync(frame, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
            }
            return (connection, await ReadWelcomeAsync(socket, cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            socket.Abort();
            socket.Dispose();
            throw;
        }
    }

    private static async Task<Welcome> ReadWelcomeAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxWelcomeBytes);
        try
        {
            var filled = 0;
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(filled, MaxWelcomeBytes - filled), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new BenchConnectException($"close_{(int?)socket.CloseStatus ?? 0}", socket.CloseStatusDescription ?? "closed before the welcome");
                }
                filled += result.Count;
                if (result.EndOfMessage)
                {
                    return ParseWelcome(buffer.AsMemory(0, filled));
                }
                if (filled == MaxWelcomeBytes)
                {
                    throw new BenchConnectException("welcome_too_large", "The first frame is over 4 KB.");
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Welcome ParseWelcome(ReadOnlyMemory<byte> frame)
    {
        using var json = JsonDocument.Parse(frame);
        var root = json.RootElement;
        if (!root.TryGetProperty(WireNames.Fields.Type, out var type) || type.GetString() != WireNames.Types.Welcome)
        {
            throw new BenchConnectException("no_welcome", Encoding.UTF8.GetString(frame.Span));
        }
        return new Welcome(
            root.GetProperty(WireNames.Fields.Node).GetString(),
            root.TryGetProperty(WireNames.Fields.Session, out var session) ? session.GetString() : null,
            root.TryGetProperty(WireNames.Fields.Resumed, out var resumed) && resumed.ValueKind == JsonValueKind.True,
            root.TryGetProperty("missedFrom", out var from) && root.TryGetProperty("missedTo", out var to) ? to.GetInt64() - from.GetInt64() + 1 : 0);
    }

    private async Task ReceiveLoopAsync()
    {
        while (true)
        {
            var move = await ReceiveConnectionAsync(_connection.Socket).ConfigureAwait(false);
            if (!move || !_followMoves || _closing.IsCancellationRequested)
            {
                return;
            }
            if (!await MoveAsync().ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>Reads one connection until it ends; true when the client should move (reconnect and resume).</summary>
    private async Task<bool> ReceiveConnectionAsync(WebSocket socket)
    {
        try
        {
            while (true)
            {
                // Wait for the next frame without a buffer, so a client that waits holds none (4 KB each for 100,000
                // clients is 400 MB of the load generator's memory), and rent one only for the message at hand.
                var result = await socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(FrameBufferBytes);
                var filled = 0;
                bool move;
                try
                {
                    while (!result.EndOfMessage)
                    {
                        if (filled == buffer.Length)
                        {
                            var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                            buffer.AsSpan(0, filled).CopyTo(larger);
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = larger;
                        }
                        result = await socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None).ConfigureAwait(false);
                        filled += result.Count;
                    }
                    move = result.MessageType != WebSocketMessageType.Close && OnFrame(buffer.AsSpan(0, filled));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var status = (int?)socket.CloseStatus ?? 1005;
                    if (socket.State == WebSocketState.CloseReceived)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                    }
                    if (status == (int)WebSocketCloseStatus.NormalClosure)
                    {
                        return false;
                    }
                    ClosedBy = status;
                    _meters.CountClose(status);
                    // 1012 (restart, drain) and 3008 (slow consumer) ask for a reconnect; 1011 and others end the client.
                    return status is CloseCodes.ServiceRestart or CloseCodes.SlowConsumer;
                }
                if (move)
                {
                    // Asked to move: close our side and resume elsewhere. Sends wait from here on, and the close goes
                    // out only after the send in flight, so no message follows the close frame (the node would not
                    // read it, and it would count as sent and lost).
                    _meters.CountMoveRequest();
                    BeginMove();
                    await _sendLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                    try
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "moving", CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
                    {
                    }
                    finally
                    {
                        _sendLock.Release();
                    }
                    return true;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // A connection that dies under the client (its node killed) ends aborted too: only our own close is final.
            if (_closing.IsCancellationRequested)
            {
                return false;
            }
            ClosedBy = 1006;
            _meters.CountClose(1006);
            return true;
        }
    }

    /// <summary>From here until the move ends, sends wait for the new connection (once per move).</summary>
    private void BeginMove()
    {
        if (_connected.Task.IsCompletedSuccessfully)
        {
            _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Back through the gateway, resuming the session from the last seq received; sends wait meanwhile.</summary>
    private async Task<bool> MoveAsync()
    {
        var started = Stopwatch.GetTimestamp();
        BeginMove();
        var old = _connection.Socket;
        for (var attempt = 1; attempt <= 10 && !_closing.IsCancellationRequested; attempt++)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
                timeout.CancelAfter(MoveTimeout);
                var (connection, welcome) = await OpenAsync(_target, UserId, _source, Session is null ? null : (Session, Interlocked.Read(ref _lastSeq)), timeout.Token).ConfigureAwait(false);
                if (welcome is not null && welcome.Session != Session)
                {
                    // The old session could not be resumed (its node died): a new one starts at seq 1.
                    Interlocked.Exchange(ref _lastSeq, 0);
                    _meters.CountResume(resumed: false, missed: 0);
                }
                else
                {
                    _meters.CountResume(welcome?.Resumed ?? true, welcome?.Missed ?? 0);
                }
                Session = welcome?.Session;
                _nodeId = welcome?.NodeId;
                _connection = connection;
                old.Dispose();
                _meters.Moved.Record(Stopwatch.GetElapsedTime(started).Ticks / 10);
                _connected.SetResult();
                return true;
            }
            catch (Exception e) when (e is BenchConnectException or WebSocketException or IOException or OperationCanceledException or HttpRequestException)
            {
                // The first node asked may already be gone too; ask again after a short, jittered pause.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(50, 250) * attempt), CancellationToken.None).ConfigureAwait(false);
            }
        }
        _meters.CountFailure("move_failed");
        _connected.SetException(new BenchConnectException("move_failed", $"{UserId} could not reconnect."));
        return false;
    }

    /// <summary>Handles one frame; true when it asks the client to move.</summary>
    private bool OnFrame(ReadOnlySpan<byte> frame)
    {
        var incoming = Payload.Read(frame);
        switch (incoming.Type)
        {
            case FrameType.Message when incoming.HasBenchData:
                if (incoming.Seq > 0)
                {
                    // Resumed sessions may replay what this client already had: seq tells.
                    if (incoming.Seq <= Interlocked.Read(ref _lastSeq))
                    {
                        Interlocked.Increment(ref _duplicates);
                        return false;
                    }
                    Interlocked.Exchange(ref _lastSeq, incoming.Seq);
                }
                var now = Stopwatch.GetTimestamp();
                _meters.Latency.Record((now - incoming.Timestamp) * 1_000_000 / Stopwatch.Frequency);
                if (incoming.Due != 0)
                {
                    _meters.LatencyFromDue.Record((now - incoming.Due) * 1_000_000 / Stopwatch.Frequency);
                }
                if (_lastBySender.TryGetValue(incoming.Sender, out var last) && incoming.Number <= last)
                {
                    Interlocked.Increment(ref _duplicates);
                    return false;
                }
                _lastBySender[incoming.Sender] = incoming.Number;
                Interlocked.Increment(ref _delivered);
                _meters.OnDelivered(incoming.Sender);
                return false;
            case FrameType.Reconnect:
                return _followMoves;
            case FrameType.Reply when _pendingReply is { } pending:
                _pendingReply = null;
                pending.TrySetResult(incoming);
                if (!incoming.Ok)
                {
                    _meters.CountError(incoming.Code ?? "unknown");
                }
                return false;
            case FrameType.Reply when !incoming.Ok:
                _meters.CountError(incoming.Code ?? "unknown");
                return false;
            case FrameType.Error:
                // The bench's messages carry no id, so the node refuses one with an error frame: it will not be delivered.
                _meters.CountRefused(incoming.Code ?? "unknown");
                return false;
            default:
                return false;
        }
    }

    private sealed record Welcome(string? NodeId, string? Session, bool Resumed, long Missed);
}
