using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Backplane.Routing;
using Switchboard.Node.Connections;
using Switchboard.Node.DataPlane;
using Switchboard.Node.Drain;
using Switchboard.Backplane.Control;
using Switchboard.Node.Heartbeats;
using Switchboard.Node.Hubs;
using Switchboard.Memory;
using Switchboard.Node.Memory;
using Switchboard.Node.Sessions;
using Switchboard.Protocol;
using Switchboard.Security.Tickets;

namespace Switchboard.Node;

/// <summary>
/// A node: accepts ticketed client WebSockets into its <see cref="Hub"/>, carries out their commands,
/// delivers locally first and through the backplane to the other nodes that hold a target, and
/// announces itself with heartbeats and presence.
/// </summary>
public sealed class SwitchboardNode : IConnectionOwner, INodeInbox, IAsyncDisposable
{
    private static readonly string Version = typeof(SwitchboardNode).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private readonly NodeOptions _options;
    private readonly IBackplane _backplane;
    private readonly ILogger _logger;
    private readonly NodeMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly TicketValidator _tickets;
    private readonly TicketReplayGuard _usedTickets;
    private readonly ClusterRouter _router;
    private readonly HubMembership _membership;
    private readonly SessionStore _sessions;
    private readonly ConnectionMover _mover;
    private readonly WriteDelay? _writeDelay;
    // Sessions taken by connections the stop closed during their take: the stop waits for their resume elsewhere.
    private readonly ConcurrentDictionary<ClientConnection, byte> _takenWhileStopping = new();
    private Task? _drain;
    private readonly TaskCompletionSource _allClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CpuMeter _cpu;
    private readonly Lock _sampleLock = new();
    private IAsyncDisposable? _joined;
    private IAsyncDisposable? _observing;
    private HeartbeatPublisher? _heartbeats;
    private IdleTrimmer? _idleTrimmer;
    private long _messagesSent;
    private long _arrivals;
    private long _lastMessagesSent;
    private long _lastSampleTimestamp;
    private volatile bool _started;
    private volatile bool _stopping;
    private volatile bool _draining;
    private readonly Lock _stopLock = new();
    private Task? _stop;
    private bool _backplaneFailing;
    private int _announceRequests;

    /// <summary>Creates a node; it takes connections once <see cref="StartAsync"/> has run.</summary>
    public SwitchboardNode(NodeOptions options, IBackplane backplane, ILogger<SwitchboardNode> logger, NodeMetrics metrics, TimeProvider? timeProvider = null)
    {
        options.Validate();
        _options = options;
        _backplane = backplane;
        _logger = logger;
        _metrics = metrics;
        _time = timeProvider ?? TimeProvider.System;
        _tickets = new TicketValidator(options.ClusterSecret, options.NodeId, options.TicketClockSkew, _time);
        _usedTickets = new TicketReplayGuard(options.TicketClockSkew, _time);
        Hub = new Hub(options.MaxConnections, options.RepeatWindow) { RepeatDropped = () => _metrics.RepeatDropped(NodeId) };
        Cluster = new ClusterView(new ClusterViewOptions
        {
            HeartbeatInterval = options.HeartbeatInterval,
            OwnNodeId = options.NodeId,
            SilentNodeUsersKeptFor = options.SilentPeerUsersKeptFor,
        }, _time);
        Cluster.NodeEvicted += (peer, silence, usersKeptFor) => NodeLog.PeerEvicted(_logger, NodeId, peer, silence, usersKeptFor);
        _router = new ClusterRouter(backplane, Cluster);
        _cpu = new CpuMeter(_time);
        _lastSampleTimestamp = _time.GetTimestamp();
        // Unix milliseconds: a restarted node always has a larger epoch than its previous life.
        Epoch = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _membership = new HubMembership(Hub, backplane, options.NodeId, Epoch, options.MaxGroupsPerConnection, metrics, logger);
        _sessions = new SessionStore(options.NodeId, options, backplane, Cluster,
            _membership, _time, logger);
        _mover = new ConnectionMover(options, _time, Random.Shared);
        _writeDelay = options.WriteDelay > TimeSpan.Zero ? new WriteDelay(options.WriteDelay) : null;
    }

    /// <summary>Raised once a drain has finished and the node has stopped; a host may exit on it.</summary>
    public event Action? Drained;

    /// <summary>True from the start of a drain: the node takes no new connections and says so in its heartbeat.</summary>
    public bool IsDraining => _draining;

    /// <summary>
    /// Drains the node: it turns not-ready at once (its heartbeat says <c>draining</c>, so gateways stop placing on it),
    /// asks every client to reconnect elsewhere in paced batches (<see cref="NodeOptions.DrainRatePerSecond"/>), keeps
    /// each session until it has resumed on another node or its grace time passed, then stops. At
    /// <see cref="NodeOptions.DrainTimeout"/> it stops whatever is left. One drain, however many callers.
    /// </summary>
    public Task DrainAsync(CancellationToken cancellationToken = default)
    {
        lock (_stopLock)
        {
            return _drain ??= DrainCoreAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Asks up to <paramref name="count"/> clients to reconnect elsewhere (a partial drain, for rebalancing); the node
    /// stays ready. Returns how many were asked.
    /// </summary>
    public int MoveConnections(int count, string reason = WireNames.RebalanceReason)
    {
        var chosen = Hub.Connections.Where(c => c.ClosedBecause is null && c.Mode == ClientConnection.SessionMode.Live && !c.Moving)
            .Take(Math.Max(0, count)).ToList();
        _ = _mover.MoveAsync(chosen, reason, CancellationToken.None);
        return chosen.Count;
    }

    private async Task DrainCoreAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        var live = Hub.Connections.Where(c => c.ClosedBecause is null && c.Mode == ClientConnection.SessionMode.Live).ToList();
        NodeLog.DrainStarted(_logger, NodeId, live.Count, _options.DrainRatePerSecond, _options.DrainTimeout);
        // Placement stops now, not at the next heartbeat.
        await BestEffort.RunAsync(() => PublishHeartbeatNowAsync(CancellationToken.None)).ConfigureAwait(false);
        // On the node's clock, like the drain's other waits and the close timers of the clients it moves.
        using var timeout = new CancellationTokenSource(_options.DrainTimeout, _time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await _mover.MoveAsync(live, WireNames.DrainReason, deadline.Token).ConfigureAwait(false);
            // Sessions are kept until they resumed elsewhere (and stragglers were forwarded) or their grace time passed.
            while (LiveConnectionCount > 0 || _sessions.KeptCount > 0 || Hub.Count > 0)
            {
                // Connections that went live after the drain began (a resume ticket whose resume came later, a
                // handshake under way) are asked too: left alone, they would hold the drain to its timeout and then be
                // closed by the stop with their sessions dropped.
                var late = Hub.Connections.Where(c => c.ClosedBecause is null && c.Mode == ClientConnection.SessionMode.Live && !c.Moving).ToList();
                if (late.Count > 0)
                {
                    await _mover.MoveAsync(late, WireNames.DrainReason, deadline.Token).ConfigureAwait(false);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(50), _time, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The deadline (or the host) ran out: stop with what is left.
        }
        NodeLog.DrainFinished(_logger, NodeId, LiveConnectionCount, _sessions.KeptCount);
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            Drained?.Invoke();
        }
        catch (Exception)
        {
            // A host's handler must not fail the drain.
        }
    }

    /// <summary>Sessions kept for a resume without a live client (detached, or handed over and still forwarding).</summary>
    public int KeptSessionCount => _sessions.KeptCount;

    /// <summary>Connections with a live client: the hub minus the sessions kept for a resume.</summary>
    public int LiveConnectionCount => Math.Max(0, Hub.Count - _sessions.KeptCount);

    /// <summary>The node's id.</summary>
    public string NodeId => _options.NodeId;

    /// <summary>The public WebSocket URL, once started.</summary>
    public string? Url { get; private set; }

    /// <summary>Changes each time the node starts.</summary>
    public long Epoch { get; }

    /// <summary>The connections held by this node.</summary>
    public Hub Hub { get; }

    /// <summary>This node's view of the cluster: other nodes' heartbeats and the presence directory.</summary>
    public ClusterView Cluster { get; }

    /// <summary>True while the node takes new connections.</summary>
    public bool IsReady => _started && !_stopping && !_draining;

    /// <summary>Joins the backplane and starts heartbeats, advertising <paramref name="publicUrl"/>.</summary>
    public async Task StartAsync(string publicUrl, CancellationToken cancellationToken = default)
    {
        Url = _options.PublicUrl ?? publicUrl;
        _observing = await _backplane.ObserveAsync(Cluster, cancellationToken).ConfigureAwait(false);
        _joined = await _backplane.JoinAsync(NodeId, this, cancellationToken).ConfigureAwait(false);
        _heartbeats = new HeartbeatPublisher(_backplane, SampleHeartbeat, _membership.PublishSnapshotAsync, _options.PresenceSnapshotEvery,
            _options.HeartbeatInterval, _time, _logger, NodeId);
        _heartbeats.Start();
        if (_options.IdleTrim)
        {
            _idleTrimmer = NodeIdleTrim.For(_options, () => Hub.Count, _time, _logger, _metrics);
            _idleTrimmer.Start();
        }
        _backplane.AnnounceRequested += OnAnnounceRequested;
        _started = true;
        NodeLog.NodeStarted(_logger, NodeId, Url, _options.MaxConnections);
    }

    /// <summary>
    /// Stops taking connections, closes every client with 1012 (after flushing what is queued for it; one whose
    /// session is being taken from another node once the take has ended), waits for them up to the close timeout, and
    /// leaves the cluster.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        // One stop, however many callers: later ones wait for the first.
        lock (_stopLock)
        {
            return _stop ??= StopCoreAsync(cancellationToken);
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        NodeLog.NodeStopping(_logger, NodeId, Hub.Count);
        // Clients leaving all at once are no burst worth a trim: the process is about to end.
        if (_idleTrimmer is not null)
        {
            await _idleTrimmer.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var connection in Hub.Connections)
        {
            // One taking its session is closed once the take has ended (HandleCommandAsync), when this node holds it.
            if (!connection.PostponeStopClose())
            {
                CloseForStop(connection);
            }
        }
        SignalIfAllClosed();
        try
        {
            await _allClosed.Task.WaitAsync(_options.CloseTimeout * 2, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Out of time (ours or the host's): abort timers end the stragglers; leaving the cluster must still happen.
            // A take that outlasted the wait does not hold its 1012 any longer; its outcome is settled when it ends.
            foreach (var connection in Hub.Connections)
            {
                CloseForStop(connection);
            }
        }
        await HandOverTakenSessionsAsync(cancellationToken).ConfigureAwait(false);
        await _sessions.DropAllAsync().ConfigureAwait(false);
        if (_writeDelay is not null)
        {
            await _writeDelay.DisposeAsync().ConfigureAwait(false);
        }
        _backplane.AnnounceRequested -= OnAnnounceRequested;
        if (_heartbeats is not null)
        {
            await _heartbeats.DisposeAsync().ConfigureAwait(false);
        }
        await BestEffort.RunAsync(() => _backplane.PublishNodeLeftAsync(NodeId, Epoch, CancellationToken.None)).ConfigureAwait(false);
        if (_joined is not null)
        {
            await _joined.DisposeAsync().ConfigureAwait(false);
        }
        if (_observing is not null)
        {
            await _observing.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits, up to twice the close timeout, until the sessions that connections closed by this stop took during the
    /// stop have resumed elsewhere (and their stragglers were forwarded) or their grace time passed. The node they came
    /// from has let them go: dropped here, the resume the 1012 asked for would find nothing.
    /// </summary>
    private async Task HandOverTakenSessionsAsync(CancellationToken cancellationToken)
    {
        // On the node's clock, like the waits it bounds.
        using var timeout = new CancellationTokenSource(_options.CloseTimeout * 2, _time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            while (_takenWhileStopping.Keys.Any(_sessions.IsKept))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), _time, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Out of time: what is left is dropped with the rest.
        }
        _takenWhileStopping.Clear();
    }

    private static void CloseForStop(ClientConnection connection) =>
        connection.RequestClose(CloseReason.NodeShutdown, (WebSocketCloseStatus)CloseCodes.ServiceRestart, "node shutting down: reconnect through the gateway", flush: true);

    private void OnAnnounceRequested()
    {
        // Requests that arrive while an announcement is under way are answered by one more round, not one each:
        // many observers reconnecting after a broker restart must not make every node publish its users many times.
        if (Interlocked.Increment(ref _announceRequests) == 1)
        {
            _ = AnnounceAsync();
        }
    }

    private async Task AnnounceAsync()
    {
        int answered;
        do
        {
            answered = Volatile.Read(ref _announceRequests);
            // Users first: an observer that sees the node again can then route to them at once.
            await BestEffort.RunAsync(() => new ValueTask(_membership.PublishSnapshotAsync(CancellationToken.None))).ConfigureAwait(false);
            await BestEffort.RunAsync(() => PublishHeartbeatNowAsync(CancellationToken.None)).ConfigureAwait(false);
        }
        while (Interlocked.CompareExchange(ref _announceRequests, 0, answered) != answered);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Cluster.Dispose();
        _usedTickets.Dispose();
    }

    /// <summary>Handles a request to the WebSocket path: checks it, accepts it and runs the connection until it ends.</summary>
    public async Task AcceptAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "websocket_required",
                $"{WireNames.WebSocketPath} takes WebSocket upgrades only").ConfigureAwait(false);
            return;
        }
        var requested = context.WebSockets.WebSocketRequestedProtocols;
        if (requested.Count > 0 && !requested.Contains(WireNames.Subprotocol))
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "unsupported_subprotocol",
                $"this node speaks the subprotocol {WireNames.Subprotocol}").ConfigureAwait(false);
            return;
        }
        var ticket = await ValidateTicketAsync(context.Request.Query[WireNames.TokenQueryParameter].FirstOrDefault()).ConfigureAwait(false);
        var messageIds = context.Request.Query[WireNames.MessageIdsQueryParameter].FirstOrDefault() == "1";
        var confirmSends = context.Request.Query[WireNames.ConfirmSendsQueryParameter].FirstOrDefault() == "1";
        var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = requested.Count > 0 ? WireNames.Subprotocol : null,
            KeepAliveInterval = _options.KeepAliveInterval,
        }).ConfigureAwait(false);
        ForgetRequestTarget(context);
        await ServeAsync(socket, ticket, messageIds, confirmSends).ConfigureAwait(false);
    }

    /// <summary>Checks a ticket, and that it was not used before.</summary>
    internal async ValueTask<TicketValidation> ValidateTicketAsync(string? token)
    {
        var ticket = await _tickets.ValidateAsync(token).ConfigureAwait(false);
        return ticket.IsValid && !_usedTickets.TryUse(ticket.Ticket!) ? new TicketValidation(null, TicketFailure.Reused) : ticket;
    }

    /// <summary>
    /// Runs an accepted WebSocket until it ends, or closes it with the reason it is refused (a bad ticket, a full or
    /// stopping node). Refusals happen after the handshake so that browsers, which hide HTTP errors, see the close code.
    /// </summary>
    internal async Task ServeAsync(WebSocket socket, TicketValidation ticket, bool messageIds = false, bool confirmSends = false)
    {
        if (await AdmitAsync(socket, ticket, messageIds: messageIds, confirmSends: confirmSends).ConfigureAwait(false) is { } connection)
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Like <see cref="ServeAsync"/>, but completes once the connection runs (or was refused): nothing waits for the
    /// connection's end, so no state of this method stays parked beside an idle connection. The connection reports
    /// its end itself (<see cref="IConnectionOwner.OnEnded"/>).
    /// </summary>
    /// <param name="socket">The accepted WebSocket.</param>
    /// <param name="ticket">Its ticket, checked.</param>
    /// <param name="cork">The stream under the WebSocket, when it can gather a batch of frames into one write.</param>
    /// <param name="messageIds">The URL asked for <c>ids=1</c>: message frames carry <c>mid</c>.</param>
    /// <param name="confirmSends">The URL asked for <c>confirm=1</c>: a <c>send</c> is answered once the backplane's broker confirmed it.</param>
    internal async Task StartServingAsync(WebSocket socket, TicketValidation ticket, CorkingStream? cork = null, bool messageIds = false, bool confirmSends = false)
    {
        if (await AdmitAsync(socket, ticket, cork, messageIds, confirmSends).ConfigureAwait(false) is { } connection)
        {
            _ = connection.RunAsync();
        }
    }

    /// <summary>Refuses the WebSocket (null) or makes it a routable connection, ready to run.</summary>
    private async Task<ClientConnection?> AdmitAsync(WebSocket socket, TicketValidation ticket, CorkingStream? cork = null, bool messageIds = false, bool confirmSends = false)
    {
        if (!ticket.IsValid)
        {
            NodeLog.TicketRefused(_logger, ticket.Failure);
            _metrics.ConnectionRefused(NodeId, "ticket_" + ticket.Failure.ToString().ToLowerInvariant());
            await CloseRefusedAsync(socket, CloseCodes.PolicyViolation, ticket.Describe()).ConfigureAwait(false);
            return null;
        }
        Interlocked.Increment(ref _arrivals);
        if (!IsReady)
        {
            _metrics.ConnectionRefused(NodeId, "stopping");
            await CloseRefusedAsync(socket, CloseCodes.ServiceRestart, "node is not taking connections: ask the gateway again").ConfigureAwait(false);
            return null;
        }
        if (ticket.Ticket!.StandbyOf is { } standing && !await _sessions.IsHeldAsync(standing, ticket.Ticket.UserId).ConfigureAwait(false))
        {
            NodeLog.StandbyRefused(_logger, ticket.Ticket.UserId, standing);
            _metrics.ConnectionRefused(NodeId, "standby");
            await CloseRefusedAsync(socket, CloseCodes.PolicyViolation, "standby refused: the session it stands by is not live").ConfigureAwait(false);
            return null;
        }
        if (!Hub.TryReserve())
        {
            NodeLog.NodeFull(_logger, NodeId, _options.MaxConnections);
            _metrics.ConnectionRefused(NodeId, "full");
            await CloseRefusedAsync(socket, CloseCodes.TryAgainLater, "node is full: ask the gateway again").ConfigureAwait(false);
            return null;
        }
        try
        {
            var t = ticket.Ticket!;
            var connection = new ClientConnection(NewConnectionId(), t.UserId, t.SessionId, socket, this, _options, _time, awaitingResume: t.Resume, resumeOnly: t.ResumeOnly, cork: cork,
                messageIds: messageIds, confirmSends: confirmSends,
                // Only where the held frames can leave in one write: elsewhere a delay would add latency and save nothing.
                writeDelay: cork is null ? null : _writeDelay);
            connection.HoldUntilRoutable();
            if (!t.Resume)
            {
                // Queued before the connection is routable, so the welcome is always its first frame; it leaves once the
                // connection is routable here and its user's presence is published, so a message sent right after the
                // welcome finds it.
                connection.TryEnqueue(ServerFrames.Welcome(connection.Id, t.UserId, NodeId, t.SessionId, resumed: false));
                _sessions.Register(connection);
            }
            // A resuming connection is routable at once, so nothing sent during the hand-over passes it by; what reaches
            // it is held until its resume has been answered (the welcome is still its first frame).
            // Not let go when this throws: a connection that is not routable must not be welcomed.
            await _membership.AddAsync(connection).ConfigureAwait(false);
            connection.StopHolding();
            if (_stopping)
            {
                CloseForStop(connection);
            }
            // From here on the slot is given back when the connection ends (OnEnded).
            return connection;
        }
        catch
        {
            Hub.Release();
            SignalIfAllClosed();
            throw;
        }
    }

    /// <summary>
    /// Drops what the request parsed from its URL once the WebSocket is open. The ticket rides in the query string and
    /// the server keeps the request for the connection's whole life; the parsed query is one of its copies (about 1 KB
    /// per idle connection). Kestrel keeps two more internally, which only the data-plane listener avoids.
    /// </summary>
    private static void ForgetRequestTarget(HttpContext context)
    {
        if (context.Features.Get<IHttpRequestFeature>() is { } request)
        {
            request.RawTarget = WireNames.WebSocketPath;
            request.QueryString = string.Empty;
        }
        context.Request.Query = QueryCollection.Empty;
    }

    /// <inheritdoc/>
    void INodeInbox.OnMessage(RoutedMessage message) => Hub.Deliver(message);

    /// <inheritdoc/>
    ValueTask<byte[]> INodeInbox.OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) => kind switch
    {
        SessionTakeMessages.Kind => ValueTask.FromResult(_sessions.AnswerTake(body)),
        SessionTakeMessages.CheckKind => ValueTask.FromResult(_sessions.AnswerCheck(body)),
        NodeControlMessages.DrainKind => ValueTask.FromResult(AnswerDrain(body)),
        _ => throw new NotSupportedException($"node {NodeId} answers no '{kind}' requests"),
    };

    private byte[] AnswerDrain(ReadOnlyMemory<byte> body)
    {
        var request = NodeControlMessages.ReadDrain(body);
        var live = LiveConnectionCount;
        if (request.Count is { } count)
        {
            return NodeControlMessages.Write(new DrainAnswer(NodeId, Moving: MoveConnections(count), Connections: live, Draining: _draining));
        }
        _ = DrainAsync();
        return NodeControlMessages.Write(new DrainAnswer(NodeId, Moving: live, Connections: live, Draining: true));
    }

    /// <inheritdoc/>
    async ValueTask IConnectionOwner.HandleCommandAsync(ClientConnection connection, ClientCommand command)
    {
        if (connection.NextCommandNumber() == 1 && connection.Mode == ClientConnection.SessionMode.AwaitingResume)
        {
            if (command.Type == ClientCommandType.Resume)
            {
                try
                {
                    await _sessions.ResumeAsync(connection, command).ConfigureAwait(false);
                }
                finally
                {
                    if (connection.TakeWaitingStopClose())
                    {
                        // The stop's 1012, held back until now: the client hears it after this node holds the session
                        // (or after its new session's welcome), so its resume elsewhere finds it here. Requested before
                        // EndTake, so it is settled as a close during the take.
                        CloseForStop(connection);
                    }
                    if (connection.EndTake() is { } closed)
                    {
                        // Closed while its session was taken (a 3008 of the held messages, the node's stop): settled
                        // now that the take decided whether this connection holds the session.
                        SettleAfterTake(connection, closed);
                    }
                }
                return;
            }
            if (!((IConnectionOwner)this).StartWithoutResume(connection))
            {
                return;
            }
        }
        switch (command.Type)
        {
            case ClientCommandType.Send:
                var message = command.Key is { } key
                    ? new RoutedMessage(command.Target, connection.Sender, command.Data.Span, NodeId, RoutedMessage.IdForKey(connection.Sender, key))
                    : new RoutedMessage(command.Target, connection.Sender, command.Data.Span, NodeId);
                connection.MarkOwnSend(message.Id);
                if (!await RouteAsync(message).ConfigureAwait(false))
                {
                    Answer(connection, command.Id, new ProtocolError(ErrorCodes.Unavailable, "the backplane is unreachable; the message reached this node's recipients only"));
                    return;
                }
                if (connection.ConfirmSends && !await FlushBackplaneAsync().ConfigureAwait(false))
                {
                    Answer(connection, command.Id, new ProtocolError(ErrorCodes.Unavailable,
                        "the broker did not confirm the message: it reached this node's recipients, and may or may not have reached the others"));
                    return;
                }
                break;
            case ClientCommandType.Join or ClientCommandType.Leave:
                Answer(connection, command.Id, await _membership.ChangeAsync(connection, command.Group!, join: command.Type == ClientCommandType.Join).ConfigureAwait(false));
                return;
            case ClientCommandType.Resume:
                // A valid v1 command in the wrong place: answered, not counted as abuse.
                connection.TryEnqueue(ServerFrames.Rejection(command.Id, new ProtocolError(ErrorCodes.ResumeNotFirst,
                    "'resume' is only accepted as the first frame of a connection opened with a resume ticket (POST /v1/connect?session=…); this connection continues as its own session")));
                return;
            case ClientCommandType.Ack:
                connection.Acknowledge(command.Seq);
                break;
        }
        Answer(connection, command.Id, null);
    }

    /// <inheritdoc/>
    bool IConnectionOwner.StartWithoutResume(ClientConnection connection)
    {
        if (connection.ResumeOnly)
        {
            // A resume-only ticket never starts a session: it is what a leaked proxy key could otherwise mint.
            _sessions.RefuseResume(connection, "this ticket only resumes a session: send resume as the first frame");
            return false;
        }
        // The client asked to resume but did something else first: it continues as a new session.
        _sessions.StartFresh(connection);
        return true;
    }

    /// <inheritdoc/>
    void IConnectionOwner.OnClosing(ClientConnection connection, CloseReason reason)
    {
        if (reason == CloseReason.SlowConsumer)
        {
            NodeLog.SlowConsumer(_logger, connection.Id);
        }
        if (!connection.DeferCloseWhileTaking())
        {
            Settle(connection, reason);
        }
    }

    /// <summary>A closed connection's session is kept for a resume, or the connection leaves the hub now.</summary>
    private void Settle(ClientConnection connection, CloseReason reason)
    {
        if (!_sessions.TryKeep(connection, reason, nodeStopping: _stopping && !_draining))
        {
            _ = _membership.RemoveAsync(connection, reason);
        }
    }

    /// <summary>
    /// Settles a close that came while the connection took its session from another node, which has let it go. A close
    /// by this node's stop (1012, also at a drain's timeout) asked the client to reconnect and resume: the session is
    /// kept for that resume like a drained client's, whether the stop drains or not, and the stop waits for it.
    /// </summary>
    private void SettleAfterTake(ClientConnection connection, CloseReason reason)
    {
        if (reason == CloseReason.NodeShutdown)
        {
            connection.Moving = true;
        }
        if (!_sessions.TryKeep(connection, reason, nodeStopping: false))
        {
            _ = _membership.RemoveAsync(connection, reason);
        }
        else if (_stopping)
        {
            _takenWhileStopping[connection] = 0;
        }
    }

    /// <inheritdoc/>
    void IConnectionOwner.OnEnded(ClientConnection connection)
    {
        Hub.Release();
        SignalIfAllClosed();
    }

    /// <inheritdoc/>
    void IConnectionOwner.OnFailed(ClientConnection connection, Exception exception) =>
        NodeLog.ConnectionFailed(_logger, connection.Id, exception);

    /// <inheritdoc/>
    void IConnectionOwner.OnFrameSent(bool isMessage)
    {
        if (isMessage)
        {
            Interlocked.Increment(ref _messagesSent);
            _metrics.MessageDelivered(NodeId);
        }
    }

    /// <summary>Waits until the backplane's broker has confirmed what was routed before; false when it could not.</summary>
    private async ValueTask<bool> FlushBackplaneAsync()
    {
        try
        {
            await _backplane.FlushAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is System.Threading.Channels.ChannelClosedException or BackplaneUnavailableException)
        {
            return false;
        }
    }

    /// <summary>Delivers a message to local recipients and routes it to the other nodes holding recipients; false when the backplane failed.</summary>
    public async ValueTask<bool> RouteAsync(RoutedMessage message)
    {
        Hub.Deliver(message);
        try
        {
            await _router.RouteAsync(message).ConfigureAwait(false);
            _backplaneFailing = false;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (!_backplaneFailing)
            {
                NodeLog.BackplaneFailed(_logger, e.Message);
            }
            _backplaneFailing = true;
            return false;
        }
    }

    /// <summary>A reply for a command with an id; for one without, only a failure is worth a frame (an <c>error</c>).</summary>
    private static void Answer(ClientConnection connection, string? id, ProtocolError? error)
    {
        if (error is not null)
        {
            connection.TryEnqueue(ServerFrames.Rejection(id, error));
        }
        else if (id is not null)
        {
            connection.TryEnqueue(ServerFrames.ReplyOk(id));
        }
    }

    /// <summary>Publishes a heartbeat now, outside the regular interval (e.g. right after a gateway starts observing).</summary>
    public ValueTask PublishHeartbeatNowAsync(CancellationToken cancellationToken = default) =>
        _backplane.PublishHeartbeatAsync(SampleHeartbeat(), cancellationToken);

    private NodeHeartbeat SampleHeartbeat()
    {
        lock (_sampleLock)
        {
            return SampleHeartbeatLocked();
        }
    }

    private NodeHeartbeat SampleHeartbeatLocked()
    {
        var now = _time.GetTimestamp();
        var sent = Interlocked.Read(ref _messagesSent);
        var seconds = _time.GetElapsedTime(_lastSampleTimestamp, now).TotalSeconds;
        var rate = seconds > 0 ? (sent - _lastMessagesSent) / seconds : 0;
        _lastMessagesSent = sent;
        _lastSampleTimestamp = now;
        return new NodeHeartbeat(NodeId, Url ?? string.Empty, LiveConnectionCount, _options.MaxConnections, _cpu.Sample(), rate,
            Draining: _stopping || _draining, Epoch, Version, _time.GetUtcNow(), Interlocked.Read(ref _arrivals));
    }

    private string NewConnectionId() => NodeId + "." + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(9));

    private void SignalIfAllClosed()
    {
        if (_stopping && Hub.Reserved == 0)
        {
            _allClosed.TrySetResult();
        }
    }

    private async Task CloseRefusedAsync(WebSocket socket, int code, string reason)
    {
        using var timeout = new CancellationTokenSource(_options.CloseTimeout, _time);
        try
        {
            await socket.CloseAsync((WebSocketCloseStatus)code, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException)
        {
            // The client left without finishing the handshake; nothing is lost.
        }
        finally
        {
            socket.Dispose();
        }
    }
}
