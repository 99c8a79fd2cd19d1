using System.Net.WebSockets;
using System.Text;

namespace Switchboard.Node.Tests.Connections;

/// <summary>
/// A WebSocket with no network under it, for driving one <see cref="Switchboard.Node.Connections.ClientConnection"/>:
/// it records the frames sent (as text), can hold sends to play a client that does not read, and reports a close
/// from the peer when the test says so.
/// </summary>
internal sealed class ScriptedWebSocket : WebSocket
{
    private readonly Lock _lock = new();
    private readonly List<string> _sent = [];
    private readonly TaskCompletionSource _peerClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource? _held;
    private WebSocketState _state = WebSocketState.Open;
    private int _sendsStarted;
    private int _concurrentSends;

    /// <summary>The text of every frame sent, in order.</summary>
    public IReadOnlyList<string> Sent
    {
        get
        {
            lock (_lock)
            {
                return [.. _sent];
            }
        }
    }

    /// <summary>Sends begun, including one still held.</summary>
    public int SendsStarted => Volatile.Read(ref _sendsStarted);

    /// <summary>Set when two sends ever overlapped, which a WebSocket does not allow.</summary>
    public bool SendsOverlapped { get; private set; }

    /// <summary>The status of the close frame sent, once one was.</summary>
    public WebSocketCloseStatus? SentClose { get; private set; }

    /// <summary>From now on each send waits until <see cref="ReleaseSends"/>.</summary>
    public void HoldSends()
    {
        lock (_lock)
        {
            _held ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Lets held sends finish, and later ones go through at once.</summary>
    public void ReleaseSends()
    {
        TaskCompletionSource? held;
        lock (_lock)
        {
            held = _held;
            _held = null;
        }
        held?.TrySetResult();
    }

    /// <summary>The peer sends its close frame: the pending receive returns it.</summary>
    public void CloseFromPeer() => _peerClosed.TrySetResult();

    public override WebSocketCloseStatus? CloseStatus => null;

    public override string? CloseStatusDescription => null;

    public override WebSocketState State => _state;

    public override string? SubProtocol => null;

    public override void Abort()
    {
        _state = WebSocketState.Aborted;
        _peerClosed.TrySetException(new WebSocketException(WebSocketError.ConnectionClosedPrematurely));
        lock (_lock)
        {
            _held?.TrySetException(new WebSocketException(WebSocketError.ConnectionClosedPrematurely));
        }
    }

    public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) =>
        CloseOutputAsync(closeStatus, statusDescription, cancellationToken);

    public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken)
    {
        SentClose = closeStatus;
        _state = _state == WebSocketState.CloseReceived ? WebSocketState.Closed : WebSocketState.CloseSent;
        return Task.CompletedTask;
    }

    public override void Dispose()
    {
        if (_state != WebSocketState.Aborted)
        {
            _state = WebSocketState.Closed;
        }
    }

    public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await _peerClosed.Task;
        if (_state == WebSocketState.Open)
        {
            _state = WebSocketState.CloseReceived;
        }
        return new ValueWebSocketReceiveResult(0, WebSocketMessageType.Close, endOfMessage: true);
    }

    public override async Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken)
    {
        var result = await ReceiveAsync(buffer.AsMemory(), cancellationToken);
        return new WebSocketReceiveResult(result.Count, result.MessageType, result.EndOfMessage);
    }

    public override async ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken)
    {
        // Copied before any wait: the sender returns pooled buffers once the send completes.
        var text = Encoding.UTF8.GetString(buffer.Span);
        if (Interlocked.Increment(ref _concurrentSends) > 1)
        {
            SendsOverlapped = true;
        }
        try
        {
            Task? held;
            lock (_lock)
            {
                held = _held?.Task;
            }
            Interlocked.Increment(ref _sendsStarted);
            if (held is not null)
            {
                await held;
            }
            if (_state == WebSocketState.Aborted)
            {
                throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely);
            }
            lock (_lock)
            {
                _sent.Add(text);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _concurrentSends);
        }
    }

    public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
        SendAsync(buffer.AsMemory(), messageType, endOfMessage, cancellationToken).AsTask();
}
