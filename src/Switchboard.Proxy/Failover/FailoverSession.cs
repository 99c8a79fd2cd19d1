using System.Net.Sockets;
using System.Net.WebSockets;
using System.Threading.Channels;
using Switchboard.Protocol;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Failover;

/// <summary>
/// One client's session in failover mode. Four loops: client → queue, queue → current node, current node → client queue,
/// client queue → client. The third owns the node link and moves it; the queue → node loop follows through
/// <see cref="_currentLink"/>. The node link is never left unread for a slow client (its pongs would go unread, and a
/// healthy node would look gone): a client that does not keep up is closed with 3008, as a node would close it.
/// </summary>
internal sealed class FailoverSession : IAsyncDisposable
{
    /// <summary>Message ids remembered, and standby copies held, per client (see <see cref="MirrorWindow"/>).</summary>
    public const int MirrorCapacity = 4096;

    /// <summary>The reason a node gives with 3008 (protocol.md, "Slow consumers and close 3008").</summary>
    private const string SlowConsumerReason = "send queue overflow: the client reads too slowly";

    private readonly ClientConnection _connection;
    private readonly ProxyRuntime _runtime;
    private readonly FailoverServices _services;
    private readonly CancellationTokenSource _done;
    private readonly Channel<FailoverFrame> _toNode;
    // The node's frames on their way to the client, and how many of them, and bytes, count (Proxy:SendQueueFrames, SendQueueBytes).
    private readonly Channel<(FailoverFrame Frame, bool Counted)> _toClient = Channel.CreateUnbounded<(FailoverFrame, bool)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _clientSendsStopped;
    private Task _queueToClient = Task.CompletedTask;
    private Task _clientToQueue = Task.CompletedTask;
    private int _toClientCount;
    private long _toClientBytes;
    private volatile bool _slowConsumer;
    // A send to the client failed: nothing reaches it any more, and what the node sends meanwhile is dropped, not counted.
    private volatile bool _clientSendFailed;
    private readonly WebSocket _client;
    private readonly string? _userId;
    private NodeLink _link;
    private Task<NodeLink> _currentLink;
    private string? _session;
    private string? _sessionNode;
    private long _lastSeq;
    private long _clientSeq;
    // A resume's replay (the node queues it at once, and counts none of it against its send queue): the messages still
    // to come, and whether the resume's reply may come first. Only the node → client loop uses them.
    private int _replayLeft;
    private bool _replyMayFollow;
    private volatile bool _rewriting;
    private volatile bool _clientClosed;
    // The client's own close (not a drop): what the node gets once the queue has drained into it.
    private WebSocketCloseStatus? _clientCloseStatus;
    private string? _clientCloseDescription;
    // The client's close as written into a node link (Sent: whether it was); the session ends when that node answers it.
    private volatile NodeClose? _nodeClose;
    // With a standby (Proxy:Standby): what keeps it, and the two streams' matcher.
    private readonly StandbyKeeper? _standbys;
    private readonly InFlightCommands _inFlight = new();

    public FailoverSession(ClientConnection connection, ProxyRuntime runtime, FailoverServices services, UpgradeRequest request, NodeLink first, CancellationToken stopping)
    {
        _connection = connection;
        _runtime = runtime;
        _services = services;
        _done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _clientSendsStopped = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _toNode = Channel.CreateBounded<FailoverFrame>(new BoundedChannelOptions(runtime.Settings.Options.FailoverQueueFrames) { SingleReader = true, SingleWriter = true });
        _client = WebSocket.CreateFromStream(new NetworkStream(connection.Client, ownsSocket: false), new WebSocketCreationOptions
        {
            IsServer = true,
            SubProtocol = FailoverFrames.SubProtocol,
            KeepAliveInterval = TimeSpan.FromSeconds(30),
        });
        _userId = request.QueryParameter(TicketPolicy.TokenParameter) is { } token ? TicketPolicy.ReadClaim(token, TicketPolicy.SubjectClaim) : null;
        _link = first;
        _currentLink = Task.FromResult(first);
        _standbys = runtime.Settings.Options.Standby && _userId is not null
            ? new StandbyKeeper(runtime, services, _userId, connection.Remote.Address.ToString(), new MirrorWindow(MirrorCapacity), _done.Token)
            : null;
    }

    public async Task RunAsync()
    {
        var clientToQueue = _clientToQueue = ClientToQueueAsync();
        var queueToNode = QueueToNodeAsync();
        _queueToClient = QueueToClientAsync();
        try
        {
            await NodeToClientAsync().ConfigureAwait(false);
        }
        finally
        {
            // What the node sent before it went or closed still reaches the client, within a close's grace.
            await DrainToClientAsync().ConfigureAwait(false);
            await _done.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(clientToQueue, queueToNode).ConfigureAwait(false);
            if (_clientCloseStatus is { } status)
            {
                // The client's close is answered last, once the node had its frames (or time ran out).
                await CloseQuietlyAsync(_client, status, _clientCloseDescription).ConfigureAwait(false);
            }
            if (_standbys is not null)
            {
                await _standbys.CloseAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ClientToQueueAsync()
    {
        var token = _done.Token;
        var closed = false;
        try
        {
            while (true)
            {
                var frame = await FrameReader.ReceiveAsync(_client, token).ConfigureAwait(false);
                if (frame is null && _client.State != WebSocketState.CloseReceived)
                {
                    break; // the answer to the proxy's own close (the node's relayed, or a slow consumer's 3008)
                }
                if (frame is null)
                {
                    // The client closes: what it sent before its close is still in the queue. The queue → node loop
                    // sends it all, then the close (1000 ends the session there); the node's close ends the session
                    // here and the client's is answered then. A node that never answers is cut off after a move's
                    // time and a close handshake's.
                    _clientCloseDescription = _client.CloseStatusDescription;
                    _clientCloseStatus = _client.CloseStatus ?? WebSocketCloseStatus.NormalClosure;
                    _clientClosed = true;
                    closed = true;
                    var options = _runtime.Settings.Options;
                    _done.CancelAfter(options.FailoverTimeout + options.CloseGrace);
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
            if (!closed)
            {
                // The client is gone: the node loop may be waiting on a node that says nothing, end it.
                await _done.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// With a standby: a <c>join</c> or <c>leave</c> goes to the standby too (and is remembered for the next standby); after
    /// a promotion, an <c>ack</c> of the client's seqs becomes one of the node's (the last it relayed).
    /// </summary>
    private async Task<FailoverFrame> MirrorCommandAsync(FailoverFrame frame, string? type, string? group, string? id)
    {
        if (_standbys is null)
        {
            return frame;
        }
        if (type is FailoverFrames.Join or FailoverFrames.Leave && group is not null)
        {
            await _standbys.MirrorAsync(type, group).ConfigureAwait(false);
        }
        else if (type == FailoverFrames.AckType && _rewriting)
        {
            return frame with { Data = FailoverFrames.Ack(Interlocked.Read(ref _lastSeq), id) };
        }
        return frame;
    }

    private async Task QueueToNodeAsync()
    {
        var token = _done.Token;
        var reader = _toNode.Reader;
        try
        {
            var link = await Volatile.Read(ref _currentLink).WaitAsync(token).ConfigureAwait(false);
            // The next client frame to send, and whether it waits for an answer (then it is also among the unanswered).
            FailoverFrame? pending = null;
            var pendingTracked = false;
            // After a move: the commands the last node did not answer, sent again first.
            List<FailoverFrame>? again = null;
            var againSent = 0;
            Task<bool>? waiting = null;
            while (true)
            {
                FailoverFrame frame;
                if (again is not null && againSent < again.Count)
                {
                    frame = again[againSent];
                }
                else
                {
                    again = null;
                    if (pending is null)
                    {
                        // A node lost while the client is quiet must still get the commands it did not answer: wait for
                        // the client or for the link to end, whichever comes first.
                        waiting ??= reader.WaitToReadAsync(token).AsTask();
                        if (!waiting.IsCompleted)
                        {
                            await Task.WhenAny(waiting, link.Ended.Task).ConfigureAwait(false);
                            if (!waiting.IsCompleted)
                            {
                                (link, again, againSent, pending) = await NextLinkAsync(link, null, false, token).ConfigureAwait(false);
                                continue;
                            }
                        }
                        var more = await waiting.ConfigureAwait(false);
                        if (!more)
                        {
                            if (link.Ended.Task.IsCompleted)
                            {
                                // The node went before it had the client's last frames: they and the close go to the next.
                                waiting = null;
                                (link, again, againSent, pending) = await NextLinkAsync(link, null, false, token).ConfigureAwait(false);
                                continue;
                            }
                            if (await CloseNodeAsync(link).ConfigureAwait(false))
                            {
                                // A node that vanished after the close was written never answers it: after a close
                                // handshake's time its link counts as dropped, and the node loop moves on.
                                try
                                {
                                    await link.Ended.Task.WaitAsync(_runtime.Settings.Options.CloseGrace, token).ConfigureAwait(false);
                                }
                                catch (TimeoutException)
                                {
                                    link.Socket.Abort();
                                }
                            }
                            // The session ends when the node answers; if the link went first (or was already closing for
                            // a move), the unanswered commands and the close go to the next.
                            waiting = null;
                            (link, again, againSent, pending) = await NextLinkAsync(link, null, false, token).ConfigureAwait(false);
                            continue;
                        }
                        waiting = null;
                        if (!reader.TryRead(out var next))
                        {
                            continue;
                        }
                        // Read once, when the frame first leaves the queue: mirrored, rewritten and tracked from that one scan.
                        var (type, group, id, key) = next.Type == WebSocketMessageType.Text ? FailoverFrames.ScanCommand(next.Data) : default;
                        next = await MirrorCommandAsync(next, type, group, id).ConfigureAwait(false);
                        (var tracked, pendingTracked) = _inFlight.Track(next, type, id, key);
                        pending = tracked;
                    }
                    frame = pending.Value;
                }
                if (link.Ended.Task.IsCompleted)
                {
                    (link, again, againSent, pending) = await NextLinkAsync(link, pending, pendingTracked, token).ConfigureAwait(false);
                    continue;
                }
                try
                {
                    await link.Socket.SendAsync(frame.Data, frame.Type, true, token).ConfigureAwait(false);
                    if (again is not null)
                    {
                        againSent++;
                    }
                    else
                    {
                        pending = null;
                    }
                }
                catch (Exception e) when (e is WebSocketException or InvalidOperationException or ObjectDisposedException or IOException or OperationCanceledException
                                          && !token.IsCancellationRequested)
                {
                    // The node is going (an aborted send may also say "cancelled"); the frame waits for the next one.
                    (link, again, againSent, pending) = await NextLinkAsync(link, pending, pendingTracked, token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The client closed and the node has every frame it sent before: the node gets the client's close. False when the
    /// link could not take it (it went, or it is closing already for a move).
    /// </summary>
    private async Task<bool> CloseNodeAsync(NodeLink link)
    {
        if (_clientCloseStatus is not { } status)
        {
            return false;
        }
        var sent = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Known before the node could answer: its close ends the session only if it answers this one.
        _nodeClose = new NodeClose(link, sent.Task);
        var result = await CloseQuietlyAsync(link.Socket, status, _clientCloseDescription).ConfigureAwait(false);
        sent.SetResult(result);
        return result;
    }

    /// <summary>Whether the node of <paramref name="link"/> answered the client's close (then the session is over).</summary>
    private async Task<bool> NodeAnsweredCloseAsync(NodeLink link) =>
        _nodeClose is { } close && close.Link == link && await close.Sent.ConfigureAwait(false) && link.Socket.CloseStatus is not null;

    /// <summary>
    /// Waits for the next node, and gives what it must get first: every command the old node did not answer (it may have
    /// read them and died). A pending command is among them; anything else pending stays pending.
    /// </summary>
    private async Task<(NodeLink Link, List<FailoverFrame> Again, int AgainSent, FailoverFrame? Pending)> NextLinkAsync(
        NodeLink old, FailoverFrame? pending, bool pendingTracked, CancellationToken token)
    {
        var link = await NextLinkAsync(old, token).ConfigureAwait(false);
        return (link, _inFlight.Unanswered(), 0, pendingTracked ? null : pending);
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
                while (await link.ReceiveAsync(token).ConfigureAwait(false) is { } received)
                {
                    var frame = received;
                    var counted = true;
                    _connection.Touch(_runtime.Time.GetTimestamp());
                    if (frame.Type == WebSocketMessageType.Text)
                    {
                        var (type, seq, messageId, replyId, _, _) = FailoverFrames.Scan(frame.Data);
                        counted = !InReplay(type);
                        if (type == FailoverFrames.Reconnect)
                        {
                            // The node drains or sheds load: close as a client would (1000 keeps the session after
                            // reconnect), read what it still sends, then move. The client is not told.
                            reconnect = true;
                            await CloseQuietlyAsync(link.Socket, WebSocketCloseStatus.NormalClosure, "reconnect").ConfigureAwait(false);
                            continue;
                        }
                        if (type == FailoverFrames.Reply && replyId is not null && _inFlight.Answered(replyId))
                        {
                            // The answer to an id the proxy gave: the client, which gave none, hears only of a failure.
                            if (FailoverFrames.ErrorOfFailedReply(frame.Data) is not { } error)
                            {
                                continue;
                            }
                            frame = frame with { Data = error };
                        }
                        if (type == FailoverFrames.Welcome && _session is null)
                        {
                            var welcome = FailoverFrames.ReadWelcome(frame.Data);
                            ExpectReplay(welcome, reply: true);
                            counted = false;
                            _session = welcome.Session;
                            _sessionNode = welcome.Node;
                            KeepStandby();
                        }
                        else if (type == FailoverFrames.Message && seq is { } s)
                        {
                            if (s <= _lastSeq)
                            {
                                continue; // a copy of one the client has
                            }
                            Interlocked.Exchange(ref _lastSeq, s);
                            if (messageId is { } id && _standbys?.Window.Deliver(id) == false)
                            {
                                continue; // the standby's copy reached the client first (it was promoted)
                            }
                            frame = NextClientSeq(frame, s);
                        }
                    }
                    if (!ToClient(frame, counted))
                    {
                        await CloseSlowConsumerAsync().ConfigureAwait(false);
                        return;
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException && !token.IsCancellationRequested)
            {
                // The connection to the node dropped without a close: 1006, resumable. A link aborted because the node
                // stopped answering pings (Proxy:NodeKeepAliveTimeout) says "cancelled" though no one cancelled it.
            }
            catch (FrameTooLargeException)
            {
                await CloseClientAsync(WebSocketCloseStatus.InternalServerError, "the node sent a frame too large for the proxy").ConfigureAwait(false);
                return;
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                // A promoted standby's queue ended with its node: as a dropped connection.
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
            {
                return; // the client went or the proxy stops
            }
            // A gone client is no reason to move (its sender ends the session); one that closed is, while the node has not
            // had all it sent before its close.
            if (token.IsCancellationRequested || _client.State is WebSocketState.Aborted or WebSocketState.Closed
                || (_clientClosed && (_clientCloseStatus is null || await NodeAnsweredCloseAsync(link).ConfigureAwait(false))))
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
            var nextSource = new TaskCompletionSource<NodeLink>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _currentLink, nextSource.Task);
            link.Dispose(); // ends it for the queue → node loop, which now waits for nextSource
            // A connection that dropped without a close (1006) is a node that died, or one cut off: the standby already has
            // everything, and promoting it costs no round trip, where a resume would cost a gateway request and a dial per
            // client, all at once, for a session that is most likely gone.
            var abrupt = status is null && !reconnect && _standbys?.Current is not null;
            var next = (abrupt ? null : await MoveAsync(nextSource, token).ConfigureAwait(false))
                ?? await PromoteAsync(nextSource, link, token).ConfigureAwait(false)
                ?? (abrupt ? await MoveAsync(nextSource, token).ConfigureAwait(false) : null);
            if (next is null)
            {
                if (!token.IsCancellationRequested)
                {
                    _runtime.Metrics.Failover(FailoverResult.Lost);
                    ProxyLog.FailoverLost(_runtime.Logger, _session, link.Backend?.Id ?? link.Url.Authority);
                    await CloseClientAsync((WebSocketCloseStatus)1012, "the session could not be resumed on another node: ask the gateway again").ConfigureAwait(false);
                }
                return;
            }
            _connection.Backend = next.Backend;
        }
    }

    /// <summary>
    /// The session could not be resumed (its node died without keeping it): the standby becomes the client's node. What
    /// only the standby received goes to the client first, then its stream; the client's seqs continue where they were.
    /// Null without a live standby.
    /// </summary>
    private async Task<NodeLink?> PromoteAsync(TaskCompletionSource<NodeLink> nextSource, NodeLink lost, CancellationToken token)
    {
        if (token.IsCancellationRequested || _standbys is null || await _standbys.TakeAsync().ConfigureAwait(false) is not { } standby)
        {
            return null;
        }
        if (await standby.PromoteAsync().ConfigureAwait(false) is not { } link)
        {
            standby.Dispose();
            return null;
        }
        var pending = _standbys.Window.TakePending();
        _rewriting = true;
        foreach (var data in pending)
        {
            // Not counted, as a resume's replay is not at a node: they come at once, before the client could read one.
            ToClient(new FailoverFrame(FailoverFrames.WithSeq(data, ++_clientSeq), WebSocketMessageType.Text), counted: false);
        }
        _runtime.Metrics.Failover(FailoverResult.Promoted);
        ProxyLog.FailoverPromoted(_runtime.Logger, _session!, lost.Backend?.Id ?? lost.Url.Authority, standby.Session, standby.Node, pending.Count);
        Interlocked.Exchange(ref _lastSeq, standby.LastSeq);
        _session = standby.Session;
        _sessionNode = standby.Node;
        _link = link;
        nextSource.SetResult(link);
        KeepStandby();
        return link;
    }

    /// <summary>Keeps a standby for the current session; a replacement (after a promotion) is spread out, the first is not.</summary>
    private void KeepStandby()
    {
        if (_standbys is not null && _session is { } session && _sessionNode is not null)
        {
            _standbys.Keep(session, () => _sessionNode, spread: _rewriting);
        }
    }

    /// <summary>The frame as the client gets it: the node's seq until a standby was promoted, the client's own count after.</summary>
    private FailoverFrame NextClientSeq(FailoverFrame frame, long nodeSeq)
    {
        if (!_rewriting)
        {
            _clientSeq = nodeSeq;
            return frame;
        }
        return frame with { Data = FailoverFrames.WithSeq(frame.Data, ++_clientSeq) };
    }

    /// <summary>Resumes the session on another node. Returns the new link (already current), or null when the session is lost or time ran out.</summary>
    private async Task<NodeLink?> MoveAsync(TaskCompletionSource<NodeLink> nextSource, CancellationToken token)
    {
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
                // Not onto the standby's node while another will do: one node's loss must not take both.
                var placement = await _services.Gateway.ResumeAsync(_userId!, _session!, _standbys?.Current?.Node, attemptTimeout.Token).ConfigureAwait(false);
                var backend = _runtime.Pool.FindNode(placement.Node);
                var url = new Uri($"{(backend?.Url ?? placement.Url).GetLeftPart(UriPartial.Path)}?{TicketPolicy.TokenParameter}={Uri.EscapeDataString(placement.Token)}&{FailoverFrames.NodeQuery}");
                link = await NodeLink.OpenAsync(_services.Nodes, backend, url, _connection.Remote.Address.ToString(), options, attemptTimeout.Token).ConfigureAwait(false);
                await link.Socket.SendAsync(FailoverFrames.Resume(_session!, _lastSeq), WebSocketMessageType.Text, true, attemptTimeout.Token).ConfigureAwait(false);
                var answer = await FrameReader.ReceiveAsync(link.Socket, attemptTimeout.Token).ConfigureAwait(false);
                if (answer is null && link.Socket.CloseStatus != WebSocketCloseStatus.PolicyViolation)
                {
                    throw new WebSocketException($"node {placement.Node} closed before answering resume ({(int?)link.Socket.CloseStatus} {link.Socket.CloseStatusDescription})");
                }
                var type = answer is null ? null : FailoverFrames.Scan(answer.Value.Data).Type;
                var welcome = type == FailoverFrames.Welcome ? FailoverFrames.ReadWelcome(answer!.Value.Data) : null;
                // 1008 in answer to resume: a resume-only ticket (the proxy key's) whose session the node could not
                // continue; a new session instead (a dev-mode gateway's ticket) says the same.
                if (welcome is null || welcome.Session != _session)
                {
                    // A new session instead: the old one is gone (its node did not keep it). The standby carries on, or the client must know.
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
                ExpectReplay(welcome, reply: false); // the proxy's resume has no id
                _sessionNode = placement.Node;
                _link = link;
                nextSource.SetResult(link);
                // No other node took the session: the standby moves off its node.
                _standbys?.GiveWay(placement.Node);
                return link;
            }
            catch (GatewayRefusedException e) when (!token.IsCancellationRequested)
            {
                // The gateway refuses the proxy itself (a wrong or missing key): no retry can help this session.
                link?.Dispose();
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

    /// <summary>
    /// The client sent its close and may still read (as from a node, the replies to its last commands come before the
    /// close); whether it does is its own affair, and a failure must not end the session before the node has its frames.
    /// </summary>
    private async Task SendToClosingClientAsync(FailoverFrame frame, CancellationToken token)
    {
        if (_client.State != WebSocketState.CloseReceived)
        {
            return;
        }
        try
        {
            await _client.SendAsync(frame.Data, frame.Type, true, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException && !token.IsCancellationRequested)
        {
        }
    }

    /// <summary>After a resume's welcome: its reply and replayed messages come at once and, as at a node, take no slot.</summary>
    private void ExpectReplay(FailoverFrames.WelcomeInfo welcome, bool reply)
    {
        _replayLeft = welcome.Replayed;
        _replyMayFollow = reply;
    }

    /// <summary>Whether a frame of this type from the node is part of the resume's replay (see <see cref="ExpectReplay"/>).</summary>
    private bool InReplay(string? type)
    {
        if (_replyMayFollow && type == FailoverFrames.Reply)
        {
            _replyMayFollow = false;
            return true;
        }
        _replyMayFollow = false;
        if (type == FailoverFrames.Message && _replayLeft > 0)
        {
            _replayLeft--;
            return true;
        }
        return false;
    }

    /// <summary>Closes the client after what is queued for it (within <c>Proxy:CloseGrace</c>), as a node's close comes after its frames.</summary>
    private async Task CloseClientAsync(WebSocketCloseStatus status, string? description)
    {
        _clientClosed = true;
        await DrainToClientAsync().ConfigureAwait(false);
        await CloseQuietlyAsync(_client, status, description).ConfigureAwait(false);
    }

    /// <summary>
    /// Queues a frame for the client. False when a counted one does not fit (<c>Proxy:SendQueueFrames</c>, or
    /// <c>Proxy:SendQueueBytes</c> when others wait): the client is a slow consumer. After the client's own close nothing
    /// overflows: what does not fit is dropped, and the node still gets the close.
    /// </summary>
    private bool ToClient(FailoverFrame frame, bool counted)
    {
        if (_clientSendFailed)
        {
            // No one sends the queue any more: a client that is gone is no slow consumer (no 3008, no SlowClient), and
            // the session waits, not ended, for the close it may have sent before it went.
            return true;
        }
        if (counted)
        {
            var options = _runtime.Settings.Options;
            var frames = Interlocked.Increment(ref _toClientCount);
            var bytes = Interlocked.Add(ref _toClientBytes, frame.Data.Length);
            // One frame alone always fits, however large (at most FrameReader.MaxFrameBytes).
            if (frames > options.SendQueueFrames || (frames > 1 && bytes > options.SendQueueBytes))
            {
                Interlocked.Decrement(ref _toClientCount);
                Interlocked.Add(ref _toClientBytes, -frame.Data.Length);
                return _clientCloseStatus is not null;
            }
        }
        _toClient.Writer.TryWrite((frame, counted));
        _runtime.Metrics.ClientFrameQueued();
        return true;
    }

    /// <summary>Sends the client its queued frames, one at a time; a frame keeps its slot until it is written.</summary>
    private async Task QueueToClientAsync()
    {
        var token = _clientSendsStopped.Token;
        var reader = _toClient.Reader;
        try
        {
            while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (!_slowConsumer && reader.TryRead(out var item))
                {
                    if (_clientCloseStatus is null)
                    {
                        await _client.SendAsync(item.Frame.Data, item.Frame.Type, true, token).ConfigureAwait(false);
                    }
                    else
                    {
                        await SendToClosingClientAsync(item.Frame, token).ConfigureAwait(false);
                    }
                    if (item.Counted)
                    {
                        Interlocked.Add(ref _toClientBytes, -item.Frame.Data.Length);
                        Interlocked.Decrement(ref _toClientCount);
                    }
                }
                if (_slowConsumer)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            if (!token.IsCancellationRequested)
            {
                // Not _clientClosed yet: until the client → queue loop has decided, a node link that ends is a move.
                await ClientSendFailedAsync(e).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// A send to the client failed: its connection went. What it sent before is still read by the client → queue loop,
    /// which hears of the failure too: after the client's close, the session goes on until the node has the commands
    /// queued and the close (as after any client close); without one, the session ends.
    /// </summary>
    private async Task ClientSendFailedAsync(Exception failure)
    {
        _clientSendFailed = true;
        ProxyLog.ClientSendFailed(_runtime.Logger, _session ?? "(none yet)", failure.Message);
        // A reset can fail the send before the close that came ahead of it is read: the client → queue loop decides,
        // however long it first waits for room in the full queue (a move, a slow node). It always ends: it reads the
        // close, or its receive fails and it ends the session itself, or the session ends under it (_done: the node's
        // close, a move that failed). No time bound here: one would drop the close and the commands behind the queue.
        // A drain of the client's sends that gave up (_clientSendsStopped) must not wait on it either.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_done.Token, _clientSendsStopped.Token);
        await _clientToQueue.WaitAsync(stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_clientCloseStatus is null)
        {
            // The client went: the node loop may be waiting on a node that says nothing, end it.
            _clientClosed = true;
            await _done.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>No more frames for the client: waits, within <c>Proxy:CloseGrace</c>, for it to have what is queued.</summary>
    private async Task DrainToClientAsync()
    {
        _toClient.Writer.TryComplete();
        try
        {
            await _queueToClient.WaitAsync(_runtime.Settings.Options.CloseGrace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A cancelled send aborts the client's socket: the loop ends at once.
            await _clientSendsStopped.CancelAsync().ConfigureAwait(false);
            await _queueToClient.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// As a node closes a client whose send queue overflowed: what is queued is dropped, the client gets 3008 (after the
    /// frame it is being sent, within <c>Proxy:CloseGrace</c>, else it is cut off), and the node link is dropped without
    /// a close, so the node keeps the session for the client's resume.
    /// </summary>
    private async Task CloseSlowConsumerAsync()
    {
        _slowConsumer = true;
        _clientClosed = true;
        _runtime.SlowClient(_session ?? "(none yet)");
        _toClient.Writer.TryComplete();
        try
        {
            using var timeout = new CancellationTokenSource(_runtime.Settings.Options.CloseGrace);
            await _client.CloseOutputAsync((WebSocketCloseStatus)CloseCodes.SlowConsumer, SlowConsumerReason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
        }
    }

    /// <summary>Sends a close, if the socket can still take one; whether it did.</summary>
    private static async Task<bool> CloseQuietlyAsync(WebSocket socket, WebSocketCloseStatus status, string? description)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return false;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(status, description, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The client's close written into a node link, and whether it could be.</summary>
    private sealed record NodeClose(NodeLink Link, Task<bool> Sent);

    public ValueTask DisposeAsync()
    {
        _link.Dispose();
        _client.Dispose();
        _done.Dispose();
        _clientSendsStopped.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>How a failover ended, as the metrics tag it: resumed, resumed with a gap, lost, or carried on by the standby.</summary>
internal enum FailoverResult { Resumed, Gap, Lost, Promoted }
