using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using Switchboard.Client.Wire;
using Switchboard.Protocol;

namespace Switchboard.Client;

/// <summary>How a node connection ended.</summary>
/// <param name="CloseStatus">The close code the node sent, or the one the client sent when it closed first; null when the socket dropped.</param>
/// <param name="CloseDescription">The close reason text or a description of the failure.</param>
/// <param name="ClosedByClient">True when the client asked to close (dispose); such an end is never followed by a reconnect.</param>
/// <param name="ReconnectRequested">True when the node sent a <c>reconnect</c> frame before the close.</param>
/// <param name="Error">The failure, when the connection failed rather than closed.</param>
internal sealed record ConnectionEnd(int? CloseStatus, string? CloseDescription, bool ClosedByClient, bool ReconnectRequested, Exception? Error);

/// <summary>What a reconnecting client asks to continue: its session and the last seq it received.</summary>
internal readonly record struct ResumeRequest(string Session, long LastSeq);

/// <summary>
/// One WebSocket to one node: dial and <c>welcome</c>, one receive loop, sends serialized by a lock (a WebSocket
/// allows one send at a time), and the commands in flight on it. Its lifetime is the receive loop's task,
/// <see cref="Completion"/>; when it ends every command still in flight fails, once.
/// </summary>
internal sealed class NodeConnection : IAsyncDisposable
{
    private const int ReceiveChunkBytes = 16 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly int _maxFrameBytes;
    private readonly TimeSpan _closeTimeout;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<string, PendingCommand> _pending = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _frame = new(ReceiveChunkBytes);
    // Aborts the socket: cancelling a WebSocket operation aborts the whole socket.
    private readonly CancellationTokenSource _abort = new();
    private Task<ConnectionEnd>? _receiveLoop;
    private volatile bool _closeRequested;
    private volatile bool _reconnectRequested;
    private volatile bool _ended;

    private NodeConnection(ClientWebSocket socket, Uri endpoint, int maxFrameBytes, TimeSpan closeTimeout, TimeProvider time)
    {
        _socket = socket;
        Endpoint = endpoint;
        _maxFrameBytes = maxFrameBytes;
        _closeTimeout = closeTimeout;
        _time = time;
    }

    /// <summary>The node's address, without the ticket.</summary>
    public Uri Endpoint { get; }

    /// <summary>The node's <c>welcome</c>.</summary>
    public WelcomeFrame Welcome { get; private set; } = null!;

    /// <summary>Completes, never faulted, when the receive loop ends.</summary>
    public Task<ConnectionEnd> Completion => _receiveLoop ?? throw new InvalidOperationException("The receive loop has not started.");

    /// <summary>The result of <see cref="OpenAsync"/>: a welcomed connection or why there is none.</summary>
    public readonly record struct OpenResult(NodeConnection? Connection, SwitchboardException? Error);

    /// <summary>
    /// Dials <paramref name="dialUri"/> with subprotocol <c>switchboard.v1</c> and waits for <c>welcome</c>.
    /// Network failures and closes before <c>welcome</c> (1013 full, 1012 draining, 1008 bad ticket) come back as errors;
    /// only cancellation of <paramref name="cancellationToken"/> throws.
    /// </summary>
    /// <param name="dialUri">The node's URL with the ticket.</param>
    /// <param name="options">The client's options.</param>
    /// <param name="resume">When set (with a resume ticket), sent as the first frame: the welcome then answers it.</param>
    /// <param name="cancellationToken">Stops the attempt.</param>
    public static async Task<OpenResult> OpenAsync(Uri dialUri, SwitchboardClientOptions options, ResumeRequest? resume, CancellationToken cancellationToken)
    {
        var endpoint = new Uri(dialUri.GetLeftPart(UriPartial.Path));
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(WireNames.Subprotocol);
        try
        {
            await socket.ConnectAsync(dialUri, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException)
        {
            socket.Dispose();
            return new OpenResult(null, SwitchboardErrors.NodeUnreachable(endpoint, e));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new NodeConnection(socket, endpoint, options.MaxFrameBytes, options.ConnectTimeout, options.TimeProvider);
        try
        {
            using var registration = cancellationToken.Register(static c => ((NodeConnection)c!)._abort.Cancel(), connection);
            if (resume is { } r)
            {
                var resumeFrame = new ArrayBufferWriter<byte>(96);
                ClientFrames.Resume(resumeFrame, r.Session, r.LastSeq);
                await connection.SendFrameAsync(resumeFrame.WrittenMemory, cancellationToken).ConfigureAwait(false);
            }
            var frame = await connection.ReceiveFrameAsync().ConfigureAwait(false);
            if (frame is null)
            {
                // Closed before welcome: full, draining or a bad ticket. The caller asks the gateway again.
                await connection.AnswerCloseAsync().ConfigureAwait(false);
                var error = SwitchboardErrors.NodeClosed((int?)socket.CloseStatus, socket.CloseStatusDescription);
                await connection.DisposeAsync().ConfigureAwait(false);
                return new OpenResult(null, error);
            }
            if (ServerFrameParser.Parse(frame.Value.Span) is not WelcomeFrame welcome)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return new OpenResult(null, SwitchboardErrors.ProtocolViolation($"The node {endpoint} did not send 'welcome' first."));
            }
            connection.Welcome = welcome;
            return new OpenResult(connection, null);
        }
        catch (Exception e) when (e is WebSocketException or IOException or FrameTooLargeException or NotSentException or SwitchboardException
                                  || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            return new OpenResult(null, SwitchboardErrors.NodeUnreachable(endpoint, e));
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the receive loop. Messages go to <paramref name="deliver"/> in arrival order, one at a time.</summary>
    /// <remarks>
    /// <paramref name="onEnding"/> runs on the receive loop when the connection ends, before the commands in flight fail,
    /// so the owner stops handing this connection out before anyone sees the failure.
    /// </remarks>
    public void Start(Func<MessageFrame, ValueTask> deliver, Action<ErrorFrame> onError, Action<NodeConnection> onEnding)
    {
        _receiveLoop = Task.Run(() => ReceiveLoopAsync(deliver, onError, onEnding));
    }

    /// <summary>True once the receive loop has ended.</summary>
    public bool HasEnded => _ended;

    /// <summary>True while a command waits for its reply.</summary>
    public bool HasPendingCommands => !_pending.IsEmpty;

    /// <summary>Called each time a command starts waiting for its reply.</summary>
    public Action? CommandPending { get; set; }

    /// <summary>
    /// Sends one command frame and waits for its reply. Fails with <see cref="SwitchboardErrorReason.ConnectionLost"/>
    /// when the connection ends first; this connection never sends the frame again (the client may send a keyed send on the next). <paramref name="onOk"/> runs on the receive loop
    /// when the reply is ok, before any later frame is processed. With <paramref name="order"/>, the frame is reported
    /// to it as command <paramref name="number"/> once written.
    /// </summary>
    public async Task<ReplyFrame> SendCommandAsync(string id, string command, ReadOnlyMemory<byte> frame, Action? onOk,
        SendOrder<NodeConnection>? order, long number, CancellationToken cancellationToken)
    {
        var pending = new PendingCommand(command, onOk);
        _pending[id] = pending;
        CommandPending?.Invoke();
        try
        {
            // Registered before the check: either FailPending sees the entry or this sees _ended.
            if (_ended)
            {
                throw new NotSentException();
            }
            await SendFrameAsync(frame, cancellationToken).ConfigureAwait(false);
            order?.Written(number, this);
            return await pending.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(new KeyValuePair<string, PendingCommand>(id, pending));
        }
    }

    /// <summary>
    /// Closes the connection: sends a close frame with <paramref name="status"/>, then waits (up to the connect
    /// timeout) for the node's close, which ends the receive loop; aborts the socket if it does not come.
    /// </summary>
    public async Task CloseAsync(int status, string description)
    {
        _closeRequested = true;
        await SendCloseAsync(status, description).ConfigureAwait(false);
        if (_receiveLoop is null)
        {
            _abort.Cancel();
            return;
        }
        try
        {
            await _receiveLoop.WaitAsync(_closeTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _abort.Cancel();
            await _receiveLoop.ConfigureAwait(false);
        }
    }

    /// <summary>Aborts the socket at once; the receive loop ends and pending commands fail.</summary>
    public void Abort() => _abort.Cancel();

    /// <summary>Cancelled when the socket is aborted (by <see cref="Abort"/>, a failure, or a close that timed out).</summary>
    public CancellationToken Aborted => _abort.Token;

    private async Task<ConnectionEnd> ReceiveLoopAsync(Func<MessageFrame, ValueTask> deliver, Action<ErrorFrame> onError, Action<NodeConnection> onEnding)
    {
        ConnectionEnd end;
        try
        {
            while (true)
            {
                var frame = await ReceiveFrameAsync().ConfigureAwait(false);
                if (frame is null)
                {
                    await AnswerCloseAsync().ConfigureAwait(false);
                    end = new ConnectionEnd((int?)_socket.CloseStatus, _socket.CloseStatusDescription, _closeRequested, _reconnectRequested, null);
                    break;
                }
                switch (ServerFrameParser.Parse(frame.Value.Span))
                {
                    case MessageFrame message:
                        await deliver(message).ConfigureAwait(false);
                        break;
                    case ReplyFrame reply:
                        if (_pending.TryRemove(reply.Id, out var pending))
                        {
                            if (reply.Ok)
                            {
                                pending.OnOk?.Invoke();
                            }
                            pending.Reply.TrySetResult(reply);
                        }
                        // A reply nobody waits for (its command timed out or was cancelled) is dropped.
                        break;
                    case ErrorFrame error:
                        onError(error);
                        break;
                    case ReconnectFrame:
                        // Move: close normally, keep reading what the node sent before its close, then reconnect.
                        // The frame's url and token are not used yet: the client always asks the gateway again.
                        _reconnectRequested = true;
                        await SendCloseAsync(CloseCodes.Normal, "reconnect").ConfigureAwait(false);
                        _abort.CancelAfter(_closeTimeout);
                        break;
                    default:
                        // A repeated welcome, an unknown type (a later protocol version) or an invalid frame: skipped,
                        // so one bad frame does not cost the connection and its messages.
                        break;
                }
            }
        }
        catch (FrameTooLargeException e)
        {
            await SendCloseAsync(CloseCodes.MessageTooBig, "frame too large").ConfigureAwait(false);
            _abort.Cancel();
            end = new ConnectionEnd(CloseCodes.MessageTooBig, e.Message, _closeRequested, _reconnectRequested, e);
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            end = new ConnectionEnd((int?)_socket.CloseStatus, _closeRequested ? "closed by the client" : "aborted", _closeRequested, _reconnectRequested, null);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException)
        {
            end = new ConnectionEnd(null, e.Message, _closeRequested, _reconnectRequested, e);
        }
        catch (Exception e)
        {
            // A bug in a callback must not leave commands hanging: end the connection like a drop.
            _abort.Cancel();
            end = new ConnectionEnd(null, e.Message, _closeRequested, _reconnectRequested, e);
        }
        try
        {
            onEnding(this);
        }
        finally
        {
            FailPending();
        }
        return end;
    }

    /// <summary>Reads one whole text or binary frame (assembled from fragments); null when the node closed.</summary>
    private async ValueTask<ReadOnlyMemory<byte>?> ReceiveFrameAsync()
    {
        while (true)
        {
            _frame.ResetWrittenCount();
            ValueWebSocketReceiveResult result;
            do
            {
                var buffer = _frame.GetMemory(ReceiveChunkBytes);
                result = await _socket.ReceiveAsync(buffer, _abort.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                _frame.Advance(result.Count);
                if (_frame.WrittenCount > _maxFrameBytes)
                {
                    throw new FrameTooLargeException(_maxFrameBytes);
                }
            }
            while (!result.EndOfMessage);
            // Protocol v1 is text only; a binary frame from a node is skipped.
            if (result.MessageType == WebSocketMessageType.Text)
            {
                return _frame.WrittenMemory;
            }
        }
    }

    private async Task SendFrameAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Once either side has closed (a reconnect frame has us close first), a frame could not go out or would not be
        // read: it was not sent, so it waits for the next connection instead of failing as lost and cutting this one.
        if (_ended || _abort.IsCancellationRequested || _socket.State != WebSocketState.Open)
        {
            _sendLock.Release();
            throw new NotSentException();
        }
        try
        {
            // The caller's token only bounds the wait for the lock: cancelling a WebSocket send half-way aborts the socket.
            await _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, _abort.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException || (e is OperationCanceledException && _abort.IsCancellationRequested))
        {
            _abort.Cancel();
            throw EndError("send");
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task SendCloseAsync(int status, string description)
    {
        try
        {
            await _sendLock.WaitAsync(_abort.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)status, description, _abort.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The socket is already gone; the receive loop will notice.
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Completes the close handshake the node started (echoing its code), so it is not left waiting.</summary>
    private Task AnswerCloseAsync() =>
        _socket.State == WebSocketState.CloseReceived
            ? SendCloseAsync((int?)_socket.CloseStatus ?? CloseCodes.Normal, string.Empty)
            : Task.CompletedTask;

    private void FailPending()
    {
        _ended = true;
        foreach (var (id, pending) in _pending)
        {
            if (_pending.TryRemove(id, out _))
            {
                pending.Reply.TrySetException(EndError(pending.Command));
            }
        }
    }

    private SwitchboardException EndError(string command) =>
        _closeRequested ? SwitchboardErrors.Closed() : SwitchboardErrors.ConnectionLost(command);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _abort.Cancel();
        if (_receiveLoop is not null)
        {
            await _receiveLoop.ConfigureAwait(false);
        }
        else
        {
            FailPending();
        }
        _socket.Dispose();
    }

    private sealed class PendingCommand(string command, Action? onOk)
    {
        public string Command { get; } = command;

        public Action? OnOk { get; } = onOk;

        public TaskCompletionSource<ReplyFrame> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The connection ended before the frame was handed to the socket: it is safe to send it on the next connection.</summary>
    internal sealed class NotSentException() : Exception("The connection ended before the command was sent.");

    private sealed class FrameTooLargeException(int max) : Exception($"The node sent a frame larger than {max} bytes.");
}
