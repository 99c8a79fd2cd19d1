using System.Diagnostics.Metrics;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using Switchboard.Protocol;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// The backplane for nodes and gateways in many processes, over RabbitMQ (AMQP 0-9-1). Each node consumes one
/// exclusive queue, bound on a direct exchange by its node id, on a topic exchange by each group with local
/// members, and by <see cref="RabbitMqNames.BroadcastKey"/>; heartbeats, presence and departures go through a
/// fanout exchange to one queue per observing process. Messages are transient and auto-acked: the backplane
/// routes, it does not store.
/// </summary>
/// <remarks>
/// On losing the broker, local traffic carries on; what cannot be routed is counted in <see cref="UnroutableCount"/>
/// (and the <c>switchboard.backplane.unroutable</c> metric) and the outage is logged once. The backplane reconnects
/// with backoff, re-declares and re-binds everything, and raises <see cref="AnnounceRequested"/> so nodes re-announce
/// their users. An observer that starts or reconnects asks every process's nodes to re-announce theirs, so it does not
/// wait for their next periodic snapshot to route to them. When the broker's event exchange is enabled, a node whose process dies is forgotten by every
/// observer as soon as the broker deletes its queue, rather than after missed heartbeats.
/// </remarks>
public sealed class RabbitMqBackplane : IBackplane
{
    private readonly RabbitMqBackplaneOptions _options;
    private readonly RabbitMqNames _names;
    private readonly ILogger _logger;
    private readonly BrokerLink _link;
    private readonly BackplanePublisher _publisher;
    private readonly SemaphoreSlim _topology = new(1, 1);
    private readonly Dictionary<string, JoinedNode> _nodes = new(StringComparer.Ordinal);
    private readonly Lock _observersLock = new();
    private readonly Meter? _meter;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<byte[]>> _requests = new(StringComparer.Ordinal);
    private IClusterObserver[] _observers = [];
    private volatile string? _replyQueue;
    private readonly List<Election> _elections = [];
    private readonly TimeProvider _time;
    // Tells this backplane's own announce requests apart from other processes' (its nodes answer locally).
    private readonly string _instanceId = Guid.NewGuid().ToString("N");
    private long _lastRequestId;
    private bool _controlQueueWanted;
    private long _unroutable;
    private long _rejected;
    private long _framesReceived;
    private int _disposed;

    private RabbitMqBackplane(RabbitMqBackplaneOptions options, ILogger logger, TimeProvider time, IMeterFactory? meterFactory)
    {
        _options = options;
        _names = new RabbitMqNames(options.Prefix);
        _logger = logger;
        _time = time;
        _link = new BrokerLink(options, EstablishAsync, () => UnroutableCount, logger, time);
        _link.Established += OnEstablished;
        _publisher = new BackplanePublisher(options, _names, _link, CountUnroutable);
        _meter = meterFactory?.Create("Switchboard.Backplane") ?? new Meter("Switchboard.Backplane");
        _meter.CreateObservableCounter("switchboard.backplane.unroutable", () => UnroutableCount, "{message}",
            "Messages the backplane could not route (no such node, or the broker unreachable)");
        _meter.CreateObservableCounter("switchboard.backplane.frames.published", () => FramesPublished, "{message}", "Routed frames handed to the broker");
        _meter.CreateObservableCounter("switchboard.backplane.batches.published", () => MessagesPublished, "{message}", "AMQP messages published (frames are coalesced into them)");
        _meter.CreateObservableCounter("switchboard.backplane.frames.received", () => Interlocked.Read(ref _framesReceived), "{message}", "Routed frames received from the broker");
        _meter.CreateObservableCounter("switchboard.backplane.rejected", () => RejectedCount, "{message}", "Malformed or foreign messages dropped");
        _meter.CreateObservableGauge("switchboard.backplane.connected", () => IsConnected ? 1 : 0, null, "1 while connected to the broker");
    }

    /// <summary>
    /// Connects to the broker and returns the backplane. Fails with <see cref="BackplaneUnavailableException"/> when
    /// the broker cannot be reached now; once connected, outages are survived.
    /// </summary>
    public static async Task<RabbitMqBackplane> ConnectAsync(
        RabbitMqBackplaneOptions options, ILogger? logger = null, TimeProvider? timeProvider = null, IMeterFactory? meterFactory = null,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        var backplane = new RabbitMqBackplane(options, logger ?? NullLogger.Instance, timeProvider ?? TimeProvider.System, meterFactory);
        try
        {
            await backplane._link.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await backplane.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return backplane;
    }

    /// <inheritdoc/>
    public long UnroutableCount => Interlocked.Read(ref _unroutable);

    /// <summary>Messages dropped because they were malformed or not from a Switchboard backplane.</summary>
    public long RejectedCount => Interlocked.Read(ref _rejected);

    /// <summary>Frames handed to the broker.</summary>
    public long FramesPublished => _publisher.FramesPublished;

    /// <summary>AMQP messages published; <see cref="FramesPublished"/> divided by this is the coalescing factor.</summary>
    public long MessagesPublished => _publisher.MessagesPublished;

    /// <summary>True while connected to the broker.</summary>
    public bool IsConnected => _link.Current is not null;

    /// <inheritdoc/>
    public event Action? AnnounceRequested;

    /// <inheritdoc/>
    public async ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default)
    {
        var node = new JoinedNode(nodeId, _names.NodeQueue(nodeId), inbox);
        await _topology.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_nodes.TryAdd(nodeId, node))
            {
                throw new InvalidOperationException($"A node with id '{nodeId}' is already joined to this backplane.");
            }
            if (_link.Current is { } session)
            {
                try
                {
                    await DeclareNodeAsync(session, node, cancellationToken).ConfigureAwait(false);
                }
                catch (NodeIdTakenException)
                {
                    _nodes.Remove(nodeId);
                    throw new InvalidOperationException($"Node id '{nodeId}' is already held by another process on this backplane ({_options.SafeEndpoint}).");
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Applied again by the reconnection this failure triggers.
                    RabbitMqLog.TopologyFailed(_logger, $"join of {nodeId}", e);
                    _link.ReportBroken(session, e.Message);
                }
            }
        }
        finally
        {
            _topology.Release();
        }
        return new Registration(() => LeaveAsync(node));
    }

    /// <inheritdoc/>
    public async ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default)
    {
        await _topology.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_observersLock)
            {
                _observers = [.. _observers, observer];
            }
            if (!_controlQueueWanted)
            {
                _controlQueueWanted = true;
                if (_link.Current is { } session)
                {
                    await ApplySafelyAsync(session, "control queue", ct => DeclareControlQueueAsync(session, ct), cancellationToken).ConfigureAwait(false);
                    RequestAnnouncements();
                }
            }
        }
        finally
        {
            _topology.Release();
        }
        // This process's nodes announced before this observer listened.
        AnnounceRequested?.Invoke();
        return new Registration(() =>
        {
            lock (_observersLock)
            {
                _observers = _observers.Where(o => !ReferenceEquals(o, observer)).ToArray();
            }
            return ValueTask.CompletedTask;
        });
    }

    /// <inheritdoc/>
    public ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default) =>
        _publisher.EnqueueFrameAsync(_names.NodesExchange, nodeId, mandatory: true, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default) =>
        _publisher.EnqueueFrameAsync(_names.GroupsExchange, RabbitMqNames.GroupKey(group), mandatory: false, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default) =>
        _publisher.EnqueueFrameAsync(_names.GroupsExchange, RabbitMqNames.BroadcastKey, mandatory: false, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => _publisher.FlushAsync(cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (_link.Current is null || _replyQueue is not { } replyQueue)
        {
            throw new BackplaneRequestException(BackplaneRequestFailure.Unavailable, $"The backplane is not connected to RabbitMQ at {_options.SafeEndpoint}.");
        }
        var id = Interlocked.Increment(ref _lastRequestId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests[id] = answer;
        try
        {
            var envelope = ControlMessages.Encode(new NodeRequestEnvelope(id, replyQueue, kind, body.ToArray()));
            await _publisher.EnqueueSingleAsync(_names.NodesExchange, nodeId, mandatory: true, RabbitMqNames.RequestType, envelope, cancellationToken).ConfigureAwait(false);
            return await answer.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new BackplaneRequestException(BackplaneRequestFailure.Timeout, $"node '{nodeId}' did not answer '{kind}' within {timeout.TotalSeconds:0.###} s");
        }
        finally
        {
            _requests.TryRemove(id, out _);
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Over RabbitMQ: every participant consumes one single-active-consumer queue and publishes a tick to it twice a
    /// second; the broker delivers to one consumer only, and that participant leads while its ticks keep arriving.
    /// </remarks>
    public async ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default)
    {
        var election = new Election(this, role, _names.ElectionQueue(role));
        await _topology.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _elections.Add(election);
            if (_link.Current is { } session)
            {
                await ApplySafelyAsync(session, $"election {role}", ct => DeclareElectionAsync(session, election, ct), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _topology.Release();
        }
        election.Start();
        return election;
    }

    private async Task DeclareElectionAsync(BrokerSession session, Election election, CancellationToken cancellationToken)
    {
        var channel = session.Topology;
        await channel.QueueDeclareAsync(election.Queue, durable: false, exclusive: false, autoDelete: true,
            arguments: new Dictionary<string, object?> { ["x-single-active-consumer"] = true }, cancellationToken: cancellationToken).ConfigureAwait(false);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            if (delivery.BasicProperties.Type == RabbitMqNames.ElectionTickType)
            {
                election.Ticked(_time.GetTimestamp());
            }
            return Task.CompletedTask;
        };
        election.ConsumerTag = await channel.BasicConsumeAsync(election.Queue, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
        election.Session = session;
    }

    private async ValueTask LeaveElectionAsync(Election election)
    {
        await _topology.WaitAsync().ConfigureAwait(false);
        try
        {
            _elections.Remove(election);
            if (_link.Current is { } session && ReferenceEquals(election.Session, session) && election.ConsumerTag is { } tag)
            {
                await ApplySafelyAsync(session, $"leaving election {election.Role}", ct => session.Topology.BasicCancelAsync(tag, cancellationToken: ct), CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            _topology.Release();
        }
    }

    private sealed class Election(RabbitMqBackplane backplane, string role, string queue) : ILeadership
    {
        private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(500);
        private long _lastTick = long.MinValue;
        private ITimer? _timer;

        public string Role { get; } = role;

        public string Queue { get; } = queue;

        public string? ConsumerTag { get; set; }

        public BrokerSession? Session { get; set; }

        public bool IsLeader
        {
            get
            {
                var last = Interlocked.Read(ref _lastTick);
                return last != long.MinValue && backplane._link.Current is not null
                    && backplane._time.GetElapsedTime(last) < TickInterval * 3;
            }
        }

        public void Ticked(long timestamp) => Interlocked.Exchange(ref _lastTick, timestamp);

        public void Start() => _timer = backplane._time.CreateTimer(_ => Tick(), null, TimeSpan.Zero, TickInterval);

        private void Tick()
        {
            if (backplane._link.Current is null)
            {
                return;
            }
            _ = backplane._publisher.EnqueueSingleAsync(string.Empty, Queue, mandatory: false, RabbitMqNames.ElectionTickType, [], CancellationToken.None).AsTask()
                .ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }

        public async ValueTask DisposeAsync()
        {
            _timer?.Dispose();
            Interlocked.Exchange(ref _lastTick, long.MinValue);
            await backplane.LeaveElectionAsync(this).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(nodeId, group, subscribe: true, cancellationToken);

    /// <inheritdoc/>
    public ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
        ChangeBindingAsync(nodeId, group, subscribe: false, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default)
    {
        EnsureConnected();
        return _publisher.EnqueueControlAsync(RabbitMqNames.HeartbeatType, ControlMessages.Encode(heartbeat), cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default)
    {
        EnsureConnected();
        return _publisher.EnqueuePresenceAsync(delta, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default)
    {
        EnsureConnected();
        return _publisher.EnqueueControlAsync(RabbitMqNames.NodeLeftType, ControlMessages.Encode(new NodeLeftNotice(nodeId, epoch)), cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        // Queued messages (a departure notice, say) still go out before the connection closes.
        await _publisher.DisposeAsync().ConfigureAwait(false);
        await _link.DisposeAsync().ConfigureAwait(false);
        _meter?.Dispose();
    }

    private void EnsureConnected()
    {
        if (_link.Current is null)
        {
            throw new BackplaneUnavailableException($"The backplane is not connected to RabbitMQ at {_options.SafeEndpoint}.");
        }
    }

    private void CountUnroutable(long frames) => Interlocked.Add(ref _unroutable, frames);

    private void OnEstablished()
    {
        // A new control queue missed everything sent while there was none; other processes' nodes announce again.
        if (_controlQueueWanted)
        {
            RequestAnnouncements();
        }
        AnnounceRequested?.Invoke();
    }

    private void RequestAnnouncements()
    {
        if (!_publisher.TryEnqueueControl(RabbitMqNames.AnnounceRequestType, Encoding.UTF8.GetBytes(_instanceId)))
        {
            RabbitMqLog.AnnounceRequestDropped(_logger);
        }
    }

    private async ValueTask ChangeBindingAsync(string nodeId, string group, bool subscribe, CancellationToken cancellationToken)
    {
        await _topology.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                throw new InvalidOperationException($"Node '{nodeId}' is not joined to this backplane.");
            }
            if (!(subscribe ? node.Groups.Add(group) : node.Groups.Remove(group)))
            {
                return;
            }
            if (_link.Current is { } session && node.Declared)
            {
                var key = RabbitMqNames.GroupKey(group);
                await ApplySafelyAsync(session, $"{(subscribe ? "bind" : "unbind")} of group {group}", ct => subscribe
                    ? session.Topology.QueueBindAsync(node.Queue, _names.GroupsExchange, key, cancellationToken: ct)
                    : session.Topology.QueueUnbindAsync(node.Queue, _names.GroupsExchange, key, null, ct), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _topology.Release();
        }
    }

    private async ValueTask LeaveAsync(JoinedNode node)
    {
        await _topology.WaitAsync().ConfigureAwait(false);
        try
        {
            node.Left = true;
            _nodes.Remove(node.NodeId);
            if (_link.Current is { } session && node.Declared)
            {
                // Deleting the queue drops every binding with it; observers see the queue go.
                await ApplySafelyAsync(session, $"leave of {node.NodeId}",
                    ct => session.Topology.QueueDeleteAsync(node.Queue, ifUnused: false, ifEmpty: false, cancellationToken: ct), CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            _topology.Release();
        }
    }

    private async Task ApplySafelyAsync(BrokerSession session, string operation, Func<CancellationToken, Task> apply, CancellationToken cancellationToken)
    {
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, session.Lost);
            await apply(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // The state is recorded; the reconnection this triggers applies all of it afresh.
            RabbitMqLog.TopologyFailed(_logger, operation, e);
            _link.ReportBroken(session, e.Message);
        }
    }

    /// <summary>Declares everything this backplane needs on a new session; runs on connect and on every reconnect.</summary>
    private async Task EstablishAsync(BrokerSession session, CancellationToken cancellationToken)
    {
        session.Publish.BasicReturnAsync += OnReturnedAsync;
        await _topology.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var channel = session.Topology;
            await channel.ExchangeDeclareAsync(_names.NodesExchange, ExchangeType.Direct, durable: false, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            await channel.ExchangeDeclareAsync(_names.GroupsExchange, ExchangeType.Topic, durable: false, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            await channel.ExchangeDeclareAsync(_names.ControlExchange, ExchangeType.Fanout, durable: false, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            await DeclareReplyQueueAsync(session, cancellationToken).ConfigureAwait(false);
            foreach (var node in _nodes.Values)
            {
                node.Declared = false;
                await DeclareNodeAsync(session, node, cancellationToken).ConfigureAwait(false);
            }
            if (_controlQueueWanted)
            {
                await DeclareControlQueueAsync(session, cancellationToken).ConfigureAwait(false);
            }
            foreach (var election in _elections)
            {
                await DeclareElectionAsync(session, election, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _topology.Release();
        }
    }

    private async Task DeclareNodeAsync(BrokerSession session, JoinedNode node, CancellationToken cancellationToken)
    {
        // Declared on a throwaway channel: if another process holds the node id, the broker closes that channel
        // (405 RESOURCE_LOCKED), not the one everything else uses.
        var probe = await session.Connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            await probe.QueueDeclareAsync(node.Queue, durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.ResourceLocked)
        {
            RabbitMqLog.NodeIdTaken(_logger, node.NodeId);
            throw new NodeIdTakenException();
        }
        finally
        {
            await probe.DisposeAsync().ConfigureAwait(false);
        }
        var channel = session.Topology;
        await channel.QueueBindAsync(node.Queue, _names.NodesExchange, node.NodeId, cancellationToken: cancellationToken).ConfigureAwait(false);
        await channel.QueueBindAsync(node.Queue, _names.GroupsExchange, RabbitMqNames.BroadcastKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var group in node.Groups)
        {
            await channel.QueueBindAsync(node.Queue, _names.GroupsExchange, RabbitMqNames.GroupKey(group), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnNodeDelivery(node, delivery);
        await channel.BasicConsumeAsync(node.Queue, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
        node.Declared = true;
    }

    private async Task DeclareReplyQueueAsync(BrokerSession session, CancellationToken cancellationToken)
    {
        // Server-named, so a new one after each reconnect: answers to requests sent before the outage time out.
        var channel = session.Topology;
        var queue = (await channel.QueueDeclareAsync(string.Empty, durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken).ConfigureAwait(false)).QueueName;
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnReplyDelivery(queue, delivery);
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
        _replyQueue = queue;
    }

    private Task OnReplyDelivery(string queue, BasicDeliverEventArgs delivery)
    {
        var properties = delivery.BasicProperties;
        try
        {
            if (properties.AppId != RabbitMqNames.AppId || properties.Type != RabbitMqNames.ResponseType)
            {
                throw new FormatException("not a Switchboard answer");
            }
            var response = ControlMessages.Decode(delivery.Body.Span, ControlJsonContext.Default.NodeResponseEnvelope);
            if (response.Id is not null && _requests.TryRemove(response.Id, out var answer))
            {
                if (response.Error is { } error)
                {
                    answer.TrySetException(new BackplaneRequestException(BackplaneRequestFailure.Failed, error));
                }
                else
                {
                    answer.TrySetResult(response.Body ?? []);
                }
            }
        }
        catch (FormatException e)
        {
            Reject(queue, properties, e.Message);
        }
        return Task.CompletedTask;
    }

    private void OnRequest(JoinedNode node, IReadOnlyBasicProperties properties, ReadOnlySpan<byte> body)
    {
        NodeRequestEnvelope request;
        try
        {
            request = ControlMessages.Decode(body, ControlJsonContext.Default.NodeRequestEnvelope);
            if (string.IsNullOrEmpty(request.Id) || string.IsNullOrEmpty(request.ReplyTo) || string.IsNullOrEmpty(request.Kind))
            {
                throw new FormatException("request without id, reply queue or kind");
            }
        }
        catch (FormatException e)
        {
            Reject(node.Queue, properties, e.Message);
            return;
        }
        // Answered off the consumer's thread: a slow handler must not hold up the node's routed messages.
        _ = Task.Run(async () =>
        {
            NodeResponseEnvelope response;
            try
            {
                var answer = await node.Inbox.OnRequestAsync(request.Kind, request.Body ?? [], CancellationToken.None).ConfigureAwait(false);
                response = new NodeResponseEnvelope(request.Id, answer, null);
            }
            catch (Exception e)
            {
                response = new NodeResponseEnvelope(request.Id, null, $"node '{node.NodeId}' failed to answer '{request.Kind}': {e.Message}");
            }
            try
            {
                await _publisher.EnqueueSingleAsync(string.Empty, request.ReplyTo, mandatory: false, RabbitMqNames.ResponseType,
                    ControlMessages.Encode(response), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
            {
                // The backplane is shutting down; the requester times out.
            }
        });
    }

    private async Task DeclareControlQueueAsync(BrokerSession session, CancellationToken cancellationToken)
    {
        var channel = session.Topology;
        var queue = (await channel.QueueDeclareAsync(string.Empty, durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken).ConfigureAwait(false)).QueueName;
        await channel.QueueBindAsync(queue, _names.ControlExchange, string.Empty, cancellationToken: cancellationToken).ConfigureAwait(false);
        await BindEventsAsync(session, queue, cancellationToken).ConfigureAwait(false);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => OnControlDelivery(queue, delivery);
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
    }

    private async Task BindEventsAsync(BrokerSession session, string queue, CancellationToken cancellationToken)
    {
        // On a throwaway channel: without the plugin the exchange does not exist and the broker closes the channel.
        var probe = await session.Connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            await probe.QueueBindAsync(queue, RabbitMqNames.EventExchange, RabbitMqNames.QueueDeletedEvent, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == Constants.NotFound)
        {
            RabbitMqLog.EventExchangeUnavailable(_logger);
        }
        finally
        {
            await probe.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Task OnNodeDelivery(JoinedNode node, BasicDeliverEventArgs delivery)
    {
        if (node.Left)
        {
            return Task.CompletedTask;
        }
        var properties = delivery.BasicProperties;
        if (properties.AppId == RabbitMqNames.AppId && properties.Type == RabbitMqNames.RequestType && delivery.Exchange == _names.NodesExchange)
        {
            OnRequest(node, properties, delivery.Body.Span);
            return Task.CompletedTask;
        }
        if (properties.AppId != RabbitMqNames.AppId || properties.Type != RabbitMqNames.FramesType)
        {
            Reject(node.Queue, properties, "not a Switchboard frame batch");
            return Task.CompletedTask;
        }
        List<RoutedMessage> frames;
        try
        {
            frames = FrameBatch.Read(delivery.Body.Span);
        }
        catch (FormatException e)
        {
            Reject(node.Queue, properties, e.Message);
            return Task.CompletedTask;
        }
        Interlocked.Add(ref _framesReceived, frames.Count);
        // Group and broadcast messages reach every bound queue; the origin node already delivered them locally.
        var fromGroups = delivery.Exchange == _names.GroupsExchange;
        foreach (var frame in frames)
        {
            if (fromGroups && frame.OriginNodeId == node.NodeId)
            {
                continue;
            }
            try
            {
                node.Inbox.OnMessage(frame);
            }
            catch (Exception)
            {
                // An inbox must not throw; if one does, the node's later messages must still flow.
            }
        }
        return Task.CompletedTask;
    }

    private Task OnControlDelivery(string queue, BasicDeliverEventArgs delivery)
    {
        var properties = delivery.BasicProperties;
        try
        {
            if (delivery.Exchange == RabbitMqNames.EventExchange)
            {
                OnBrokerEvent(properties);
                return Task.CompletedTask;
            }
            if (properties.AppId != RabbitMqNames.AppId)
            {
                throw new FormatException("foreign message");
            }
            var body = delivery.Body.Span;
            switch (properties.Type)
            {
                case RabbitMqNames.HeartbeatType:
                    var heartbeat = ControlMessages.Decode(body, ControlJsonContext.Default.NodeHeartbeat);
                    ControlMessages.Validate(heartbeat);
                    Notify(static (o, h) => o.OnHeartbeat(h), heartbeat);
                    break;
                case RabbitMqNames.PresenceType:
                    // A node's own snapshots come back to it: a user list it has no use for, not worth decoding.
                    if (ControlMessages.PeekNodeId(body) is { } from && !Volatile.Read(ref _observers).Any(o => o.WantsPresenceOf(from)))
                    {
                        break;
                    }
                    var delta = ControlMessages.Decode(body, ControlJsonContext.Default.PresenceDelta);
                    ControlMessages.Validate(delta);
                    Notify(static (o, d) => o.OnPresence(d), delta);
                    break;
                case RabbitMqNames.AnnounceRequestType:
                    if (body.IsEmpty)
                    {
                        throw new FormatException("announce request without its sender");
                    }
                    if (!body.SequenceEqual(Encoding.UTF8.GetBytes(_instanceId)))
                    {
                        AnnounceRequested?.Invoke();
                    }
                    break;
                case RabbitMqNames.NodeLeftType:
                    var notice = ControlMessages.Decode(body, ControlJsonContext.Default.NodeLeftNotice);
                    ControlMessages.Validate(notice);
                    Notify(static (o, n) => o.OnNodeLeft(n.NodeId, n.Epoch), notice);
                    break;
                default:
                    throw new FormatException($"unknown control type '{properties.Type}'");
            }
        }
        catch (FormatException e)
        {
            Reject(queue, properties, e.Message);
        }
        return Task.CompletedTask;
    }

    private void OnBrokerEvent(IReadOnlyBasicProperties properties)
    {
        if (properties.Headers?.TryGetValue("name", out var raw) != true || raw is not byte[] bytes)
        {
            return;
        }
        if (_names.NodeIdOfQueue(Encoding.UTF8.GetString(bytes)) is { } nodeId && !_nodes.ContainsKey(nodeId))
        {
            // The queue of a node in another process vanished: it died or left. Its epoch is unknown here, so every
            // life up to now is forgotten; a restart declares its queue only after this deletion, so it is not hit.
            Notify(static (o, id) => o.OnNodeLeft(id, long.MaxValue), nodeId);
        }
    }

    private void Notify<T>(Action<IClusterObserver, T> callback, T argument)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            try
            {
                callback(observer, argument);
            }
            catch (Exception)
            {
                // One broken observer must not cost the others their control stream.
            }
        }
    }

    private void Reject(string queue, IReadOnlyBasicProperties properties, string problem)
    {
        Interlocked.Increment(ref _rejected);
        RabbitMqLog.BadMessage(_logger, queue, properties.Type, properties.AppId, problem);
    }

    private Task OnReturnedAsync(object sender, BasicReturnEventArgs returned)
    {
        // A mandatory message with no queue bound to its node id: that node is not joined anywhere.
        if (returned.BasicProperties.Type == RabbitMqNames.RequestType)
        {
            try
            {
                var request = ControlMessages.Decode(returned.Body.Span, ControlJsonContext.Default.NodeRequestEnvelope);
                if (request.Id is not null && _requests.TryRemove(request.Id, out var answer))
                {
                    answer.TrySetException(new BackplaneRequestException(BackplaneRequestFailure.NoSuchNode, $"no node '{returned.RoutingKey}' is joined to the backplane"));
                }
            }
            catch (FormatException)
            {
                // Not ours to answer.
            }
            return Task.CompletedTask;
        }
        CountUnroutable(returned.BasicProperties.Type == RabbitMqNames.FramesType ? FrameBatch.Count(returned.Body.Span) : 1);
        return Task.CompletedTask;
    }

    private sealed class JoinedNode(string nodeId, string queue, INodeInbox inbox)
    {
        public string NodeId { get; } = nodeId;

        public string Queue { get; } = queue;

        public INodeInbox Inbox { get; } = inbox;

        /// <summary>Groups with local members; guarded by the topology lock.</summary>
        public HashSet<string> Groups { get; } = new(StringComparer.Ordinal);

        public bool Declared { get; set; }

        public volatile bool Left;
    }

    private sealed class NodeIdTakenException : Exception;

    private sealed class Registration(Func<ValueTask> dispose) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _disposed, 1) == 0 ? dispose() : ValueTask.CompletedTask;
    }
}
