using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Bench.Measurement;
using Switchboard.Bench.Workers;
using Switchboard.Protocol;

namespace Switchboard.Bench.Load;

/// <summary>
/// One bench connection: dials, waits for the welcome, then counts what it receives. Its counters are written by its
/// own receive loop only and read by the worker's progress reports.
/// </summary>
internal sealed class BenchClient : IAsyncDisposable
{
    private readonly WebSocket _socket;
    private readonly WorkerMeters _meters;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Task _receiving;
    private readonly Dictionary<int, long> _lastBySender = [];
    private TaskCompletionSource<Incoming>? _pendingReply;
    private long _delivered;
    private long _duplicates;

    private BenchClient(int index, string userId, WebSocket socket, WorkerMeters meters, JsonElement? welcome)
    {
        Index = index;
        UserId = userId;
        _socket = socket;
        _meters = meters;
        if (welcome is { } w)
        {
            NodeId = w.GetProperty(WireNames.Fields.Node).GetString();
            ConnectionId = w.GetProperty(WireNames.Fields.ConnectionId).GetString();
        }
        _receiving = ReceiveLoopAsync();
    }

    public int Index { get; }

    public string UserId { get; }

    /// <summary>The node that welcomed this client (null against the baseline).</summary>
    public string? NodeId { get; }

    public string? ConnectionId { get; }

    /// <summary>Bench messages received, not counting duplicates.</summary>
    public long Delivered => Volatile.Read(ref _delivered);

    /// <summary>Bench messages received a second time (or out of order) from the same sender.</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Bench messages this client sent.</summary>
    public long Sent;

    /// <summary>The close code the server ended the connection with while the bench still wanted it, or null.</summary>
    public int? ClosedBy { get; private set; }

    public bool IsOpen => _socket.State == WebSocketState.Open;

    /// <summary>Opens a connection and, against Switchboard, waits for its welcome; the handshake time is recorded.</summary>
    public static async Task<BenchClient> ConnectAsync(ClientTarget target, int index, string userId, IPAddress? source, WorkerMeters meters, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var url = await target.ResolveAsync(userId, cancellationToken).ConfigureAwait(false);
        var socket = await WebSocketDialer.ConnectAsync(url, source, target.SpeaksProtocol ? WireNames.Subprotocol : null, cancellationToken).ConfigureAwait(false);
        JsonElement? welcome = null;
        if (target.SpeaksProtocol)
        {
            try
            {
                welcome = await ReadWelcomeAsync(socket, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Abort();
                socket.Dispose();
                throw;
            }
        }
        meters.Handshake.Record(Stopwatch.GetElapsedTime(started).Ticks / 10);
        return new BenchClient(index, userId, socket, meters, welcome);
    }

    /// <summary>Sends one frame; sends from several tasks never interleave.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
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
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bench done", cancellationToken).ConfigureAwait(false);
            }
            await _receiving.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            _socket.Abort();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        _socket.Dispose();
        await _receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _sendLock.Dispose();
    }

    private static async Task<JsonElement> ReadWelcomeAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var filled = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new BenchConnectException($"close_{(int?)socket.CloseStatus ?? 0}", socket.CloseStatusDescription ?? "closed before the welcome");
            }
            filled += result.Count;
            if (result.EndOfMessage)
            {
                break;
            }
            if (filled == buffer.Length)
            {
                throw new BenchConnectException("welcome_too_large", "The first frame is over 4 KB.");
            }
        }
        using var json = JsonDocument.Parse(buffer.AsMemory(0, filled));
        if (!json.RootElement.TryGetProperty(WireNames.Fields.Type, out var type) || type.GetString() != WireNames.Types.Welcome)
        {
            throw new BenchConnectException("no_welcome", Encoding.UTF8.GetString(buffer, 0, filled));
        }
        return json.RootElement.Clone();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var filled = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (filled == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                    result = await _socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None).ConfigureAwait(false);
                    filled += result.Count;
                }
                while (!result.EndOfMessage);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (_socket.CloseStatus is { } status && status != WebSocketCloseStatus.NormalClosure)
                    {
                        ClosedBy = (int)status;
                        _meters.CountClose((int)status);
                    }
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
                    }
                    return;
                }
                OnFrame(buffer.AsSpan(0, filled));
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            if (_socket.State != WebSocketState.Aborted && ClosedBy is null)
            {
                ClosedBy = 1006;
                _meters.CountClose(1006);
            }
        }
    }

    private void OnFrame(ReadOnlySpan<byte> frame)
    {
        var incoming = Payload.Read(frame);
        switch (incoming.Type)
        {
            case FrameType.Message when incoming.HasBenchData:
                _meters.Latency.Record((Stopwatch.GetTimestamp() - incoming.Timestamp) * 1_000_000 / Stopwatch.Frequency);
                if (_lastBySender.TryGetValue(incoming.Sender, out var last) && incoming.Number <= last)
                {
                    Interlocked.Increment(ref _duplicates);
                    return;
                }
                _lastBySender[incoming.Sender] = incoming.Number;
                Interlocked.Increment(ref _delivered);
                _meters.OnDelivered();
                return;
            case FrameType.Reply when _pendingReply is { } pending:
                _pendingReply = null;
                pending.TrySetResult(incoming);
                if (!incoming.Ok)
                {
                    _meters.CountError(incoming.Code ?? "unknown");
                }
                return;
            case FrameType.Reply when !incoming.Ok:
            case FrameType.Error:
                _meters.CountError(incoming.Code ?? "unknown");
                return;
        }
    }
}
