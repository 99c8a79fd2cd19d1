using System.Net.Sockets;
using System.Net.WebSockets;
using System.Threading.Channels;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Failover;

/// <summary>
/// One client's session in failover mode. Three loops: client → queue, queue → current node, current node → client.
/// The last one owns the node link and moves it; the queue → node loop follows through <see cref="_currentLink"/>.
/// </summary>
internal sealed class FailoverSession : IAsyncDisposable
{
    /// <summary>Largest frame relayed either way; a larger one closes the client with 1009.</summary>
    public const int MaxFrameBytes = 1024 * 1024;

    private readonly ClientConnection _connection;
    private readonly ProxyRuntime _runtime;
    private readonly FailoverServices _services;
    private readonly CancellationTokenSource _done;
    private readonly Channel<Frame> _toNode;
    private readonly WebSocket _client;
    private readonly string? _userId;
    private NodeLink _link;
    private Task<NodeLink> _currentLink;
    private string? _session;
    private long _lastSeq;
    private volatile bool _clientClosed;

    public FailoverSession(ClientConnection connection, ProxyRuntime runtime, FailoverServices services, UpgradeRequest request, NodeLink first, CancellationToken stopping)
    {
        _connection = connection;
        _runtime = runtime;
        _services = services;
        _done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _toNode = Channel.CreateBounded<Frame>(new BoundedChannelOptions(runtime.Settings.Options.FailoverQueueFrames) { SingleReader = true, SingleWriter = true });
        _client = WebSocket.CreateFromStream(new NetworkStream(connection.Client, ownsSocket: false), new WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = FailoverFrames.SubProtocol,
            KeepAliveInterval = TimeSpan.FromSeconds(30),
        });
        _userId = request.QueryParameter(TicketPolicy.TokenParameter) is { } token ? TicketPolicy.ReadClaim(token, TicketPolicy.SubjectClaim) : null;
        _link = first;
        _currentLink = Task.FromResult(first);
    }

    private readonly record struct Frame(byte[] Data, WebSocketMessageType Type);

    public async Task RunAsync()
    {
        var clientToQueue = ClientToQueueAsync();
        var queueToNode = QueueToNodeAsync();
        try
        {
            await NodeToClientAsync().ConfigureAwait(false);
        }
        finally
        {
            await _done.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(clientToQueue, queueToNode).ConfigureAwait(false);
        }
    }

    private async Task ClientToQueueAsync()
    {
        var token = _done.Token;
        try
        {
            while (true)
            {
                var frame = await ReceiveAsync(_client, token).ConfigureAwait(false);
                if (frame is null)
                {
                    // The client closes: answer it, pass its close to the node (1000 ends the session there), and end.
                    _clientClosed = true;
                    var status = _client.CloseStatus ?? WebSocketCloseStatus.NormalClosure;
                    await CloseQuietlyAsync(_client, status, _client.CloseStatusDescription).ConfigureAwait(false);
                    await CloseQuietlyAsync(Volatile.Read(ref _link).Socket, status, _client.CloseStatusDescription).ConfigureAwait(false);
                    break;
                }
                _connection.Touch(_runtime.Time.GetTimestamp());
                // Waits while the queue is full: the client is back-pressured during a long move.
                await _toNode.Writer.WriteAsync(frame.Value, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or FrameTooLargeException)
        {
            if (e is FrameTooLargeException)
            {
                await CloseQuietlyAsync(_client, WebSocketCloseStatus.MessageTooBig, "frame too large").ConfigureAwait(false);
            }
            _clientClosed = true;
        }
        finally
        {
            _toNode.Writer.TryComplete();
            // The node loop may be waiting on a node that says nothing: end it.
            await _done.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task QueueToNodeAsync()
    {
        var token = _done.Token;
        var reader = _toNode.Reader;
        try
        {
            var link = await Volatile.Read(ref _currentLink).WaitAsync(token).ConfigureAwait(false);
            Frame? pending = null;
            while (true)
            {
                if (pending is null)
                {
                    if (!await reader.WaitToReadAsync(token).ConfigureAwait(false) || !reader.TryRead(out var next))
                    {
                        return;
                    }
                    pending = next;
                }
                if (link.Ended.Task.IsCompleted)
                {
                    link = await NextLinkAsync(link, token).ConfigureAwait(false);
                    continue;
                }
                try
                {
                    await link.Socket.SendAsync(pending.Value.Data, pending.Value.Type, true, token).ConfigureAwait(false);
                    pending = null;
                }
                catch (Exception e) when (e is WebSocketException or InvalidOperationException or ObjectDisposedException or IOException or OperationCanceledException
                                          && !token.IsCancellationRequested)
                {
                    // The node is going (an aborted send may also say "cancelled"); the frame waits for the next one. (One the old node read before it went may
                    // arrive twice: commands in flight at a move are at least once.)
                    link = await NextLinkAsync(link, token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<NodeLink> NextLinkAsync(NodeLink old, CancellationToken token)
    {
        await old.Ended.Task.WaitAsync(token).ConfigureAwait(false);
        // The node loop replaces _currentLink before it ends the old link.
        return await Volatile.Read(ref _currentLink).WaitAsync(token).ConfigureAwait(false);
    }

    private async Task NodeToClientAsync()
    {
        var token = _done.Token;
        while (true)
        {
            var link = _link;
            var reconnect = false;
            try
            {
                while (await ReceiveAsync(link.Socket, token).ConfigureAwait(false) is { } frame)
                {
                    _connection.Touch(_runtime.Time.GetTimestamp());
                    if (frame.Type == WebSocketMessageType.Text)
                    {
                        var (type, seq) = FailoverFrames.Scan(frame.Data);
                        if (type == FailoverFrames.Reconnect)
                        {
                            // The node drains or sheds load: close as a client would (1000 keeps the session after
                            // reconnect), read what it still sends, then move. The client is not told.
                            reconnect = true;
                            await CloseQuietlyAsync(link.Socket, WebSocketCloseStatus.NormalClosure, "reconnect").ConfigureAwait(false);
                            continue;
                        }
                        if (type == FailoverFrames.Welcome && _session is null)
                        {
                            _session = FailoverFrames.ReadWelcome(frame.Data).Session;
                        }
                        else if (type == FailoverFrames.Message && seq is { } s)
                        {
                            if (s <= _lastSeq)
                            {
                                continue; // a copy of one the client has
                            }
                            _lastSeq = s;
                        }
                    }
                    await _client.SendAsync(frame.Data, frame.Type, true, token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException && !token.IsCancellationRequested)
            {
                // The connection to the node dropped without a close: 1006, resumable.
            }
            catch (FrameTooLargeException)
            {
                await CloseClientAsync(WebSocketCloseStatus.InternalServerError, "the node sent a frame too large for the proxy").ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
            {
                return; // the client went or the proxy stops
            }
            // A failed send to the client lands in the same catch as a node that dropped: a gone client is no reason to move.
            if (_clientClosed || token.IsCancellationRequested || _client.State is WebSocketState.Aborted or WebSocketState.Closed)
            {
                return;
            }
            var status = (int?)link.Socket.CloseStatus;
            if (!reconnect && !FailoverFrames.KeepsSession(status))
            {
                // The node ended the session on purpose (a refused ticket, a policy close): the client hears it as sent.
                await CloseClientAsync(link.Socket.CloseStatus ?? WebSocketCloseStatus.EndpointUnavailable, link.Socket.CloseStatusDescription).ConfigureAwait(false);
                return;
            }
            if (_session is null || _userId is null)
            {
                await CloseClientAsync((WebSocketCloseStatus)(status ?? 1012), "the node went and the session cannot be resumed by the proxy").ConfigureAwait(false);
                return;
            }
            ProxyLog.FailoverStarted(_runtime.Logger, _session, link.Backend?.Id ?? link.Url.Authority, status ?? 1006, reconnect);
            if (await MoveAsync(link, token).ConfigureAwait(false) is not { } next)
            {
                if (!token.IsCancellationRequested)
                {
                    await CloseClientAsync((WebSocketCloseStatus)1012, "the session could not be resumed on another node: ask the gateway again").ConfigureAwait(false);
                }
                return;
            }
            _connection.Backend = next.Backend;
        }
    }

    /// <summary>Resumes the session on another node. Returns the new link (already current), or null when the session is lost or time ran out.</summary>
    private async Task<NodeLink?> MoveAsync(NodeLink old, CancellationToken token)
    {
        var nextSource = new TaskCompletionSource<NodeLink>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _currentLink, nextSource.Task);
        old.Dispose(); // ends it for the queue → node loop, which now waits for nextSource
        var options = _runtime.Settings.Options;
        var deadline = _runtime.Time.GetTimestamp() + (long)(options.FailoverTimeout.TotalSeconds * _runtime.Time.TimestampFrequency);
        var delay = TimeSpan.FromMilliseconds(50);
        for (var attempt = 1; !token.IsCancellationRequested; attempt++)
        {
            NodeLink? link = null;
            try
            {
                using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                attemptTimeout.CancelAfter(options.HandshakeTimeout);
                var placement = await _services.Gateway.ResumeAsync(_userId!, _session!, attemptTimeout.Token).ConfigureAwait(false);
                var backend = _runtime.Pool.Find(placement.Node);
                var url = new Uri($"{(backend?.Url ?? placement.Url).GetLeftPart(UriPartial.Path)}?{TicketPolicy.TokenParameter}={Uri.EscapeDataString(placement.Token)}");
                link = await NodeLink.OpenAsync(_services.Nodes, backend, url, _connection.Remote.Address.ToString(), options.ConnectTimeout, attemptTimeout.Token).ConfigureAwait(false);
                await link.Socket.SendAsync(FailoverFrames.Resume(_session!, _lastSeq), WebSocketMessageType.Text, true, attemptTimeout.Token).ConfigureAwait(false);
                var answer = await ReceiveAsync(link.Socket, attemptTimeout.Token).ConfigureAwait(false);
                if (answer is null && link.Socket.CloseStatus != WebSocketCloseStatus.PolicyViolation)
                {
                    throw new WebSocketException($"node {placement.Node} closed before answering resume ({(int?)link.Socket.CloseStatus} {link.Socket.CloseStatusDescription})");
                }
                var (type, _) = answer is null ? default : FailoverFrames.Scan(answer.Value.Data);
                var welcome = type == FailoverFrames.Welcome ? FailoverFrames.ReadWelcome(answer!.Value.Data) : null;
                // 1008 in answer to resume: a resume-only ticket (the proxy key's) whose session the node could not
                // continue; a new session instead (a dev-mode gateway's ticket) says the same.
                if (welcome is null || welcome.Session != _session)
                {
                    // A new session instead: the old one is gone (its node did not keep it). The client must know.
                    _runtime.Metrics.Failover(FailoverResult.Lost);
                    ProxyLog.FailoverLost(_runtime.Logger, _session!, placement.Node);
                    link.Dispose();
                    return null;
                }
                if (!welcome.Resumed)
                {
                    // Swallowed like any welcome, but a gap is never silent: counted and logged here.
                    _runtime.Metrics.Failover(FailoverResult.Gap);
                    ProxyLog.FailoverGap(_runtime.Logger, _session!, placement.Node, welcome.MissedFrom ?? 0, welcome.MissedTo ?? 0);
                }
                else
                {
                    _runtime.Metrics.Failover(FailoverResult.Resumed);
                    ProxyLog.FailoverResumed(_runtime.Logger, _session!, placement.Node, _lastSeq, attempt);
                }
                _link = link;
                nextSource.SetResult(link);
                return link;
            }
            catch (GatewayRefusedException e) when (!token.IsCancellationRequested)
            {
                // The gateway refuses the proxy itself (a wrong or missing key): no retry can help this session.
                link?.Dispose();
                _runtime.Metrics.Failover(FailoverResult.Lost);
                _services.Gateway.ReportRefusal(e);
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or WebSocketException or TimeoutException or IOException or OperationCanceledException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException
                                      && !token.IsCancellationRequested)
            {
                link?.Dispose();
                ProxyLog.FailoverAttemptFailed(_runtime.Logger, _session!, attempt, e.Message);
            }
            if (_runtime.Time.GetTimestamp() + (long)(delay.TotalSeconds * _runtime.Time.TimestampFrequency) > deadline)
            {
                _runtime.Metrics.Failover(FailoverResult.Lost);
                return null;
            }
            try
            {
                await Task.Delay(delay, _runtime.Time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
        return null;
    }

    private async Task CloseClientAsync(WebSocketCloseStatus status, string? description)
    {
        _clientClosed = true;
        await CloseQuietlyAsync(_client, status, description).ConfigureAwait(false);
    }

    private static async Task CloseQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string? description)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(status, description, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
        }
    }

    /// <summary>One whole message, or null on a close frame.</summary>
    private static async Task<Frame?> ReceiveAsync(WebSocket socket, CancellationToken token)
    {
        var buffer = new byte[4096];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= MaxFrameBytes)
                {
                    throw new FrameTooLargeException();
                }
                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxFrameBytes));
            }
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), token).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return new Frame(buffer.AsSpan(0, length).ToArray(), result.MessageType);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _link.Dispose();
        _client.Dispose();
        _done.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class FrameTooLargeException() : Exception("frame larger than " + MaxFrameBytes + " bytes");
}

/// <summary>How a failover ended, as the metrics tag it.</summary>
internal enum FailoverResult { Resumed, Gap, Lost }
