using System.Collections.Concurrent;
using System.Threading.Channels;
using Switchboard.Protocol;

namespace Switchboard.Backplane;

/// <summary>
/// The backplane for nodes that share one process (the embedded default). Messages are handed over as
/// objects, never serialized; each node drains its own inbox on one task, which keeps per-node order
/// and stops a busy sender from running another node's delivery work. Control (heartbeats, presence)
/// reaches observers synchronously, so a user is in every directory before its node welcomes it.
/// </summary>
public sealed class InMemoryBackplane : IBackplane
{
    private readonly ConcurrentDictionary<string, NodeInboxPump> _nodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string[]> _groups = new(StringComparer.Ordinal);
    private readonly Lock _groupsLock = new();
    private readonly Lock _observersLock = new();
    private IClusterObserver[] _observers = [];
    private readonly Dictionary<string, List<Leadership>> _elections = new(StringComparer.Ordinal);
    private long _unroutable;

    /// <inheritdoc/>
    public long UnroutableCount => Interlocked.Read(ref _unroutable);

    /// <inheritdoc/>
    /// <remarks>Raised when an observer starts: one process cannot lose its own bus, but a late observer missed the presence sent before it.</remarks>
    public event Action? AnnounceRequested;

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default)
    {
        var pump = new NodeInboxPump(inbox);
        if (!_nodes.TryAdd(nodeId, pump))
        {
            throw new InvalidOperationException($"A node with id '{nodeId}' is already joined to this backplane.");
        }
        return ValueTask.FromResult<IAsyncDisposable>(new Registration(async () =>
        {
            if (_nodes.TryRemove(new KeyValuePair<string, NodeInboxPump>(nodeId, pump)))
            {
                RemoveFromAllGroups(nodeId);
                await pump.StopAsync().ConfigureAwait(false);
            }
        }));
    }

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default)
    {
        lock (_observersLock)
        {
            _observers = [.. _observers, observer];
        }
        AnnounceRequested?.Invoke();
        return ValueTask.FromResult<IAsyncDisposable>(new Registration(() =>
        {
            lock (_observersLock)
            {
                _observers = _observers.Where(o => !ReferenceEquals(o, observer)).ToArray();
            }
            return ValueTask.CompletedTask;
        }));
    }

    /// <inheritdoc/>
    public ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default)
    {
        if (_nodes.TryGetValue(nodeId, out var pump))
        {
            pump.Post(message);
        }
        else
        {
            Interlocked.Increment(ref _unroutable);
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default)
    {
        if (_groups.TryGetValue(group, out var nodeIds))
        {
            foreach (var nodeId in nodeIds)
            {
                if (nodeId != message.OriginNodeId)
                {
                    _ = SendAsync(nodeId, message, cancellationToken);
                }
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default)
    {
        foreach (var (nodeId, pump) in _nodes)
        {
            if (nodeId != message.OriginNodeId)
            {
                pump.Post(message);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (!_nodes.TryGetValue(nodeId, out var pump))
        {
            throw new BackplaneRequestException(BackplaneRequestFailure.NoSuchNode, $"no node '{nodeId}' is joined to the backplane");
        }
        // A copy, as a serializing backplane would make: the answering node must not share the requester's buffer.
        var copy = body.ToArray();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        Task<byte[]> answer;
        try
        {
            // On the thread pool: a handler must never run on (and block) the requester's stack.
            answer = Task.Run(async () => await pump.Inbox.OnRequestAsync(kind, copy, timer.Token).ConfigureAwait(false), CancellationToken.None);
            return await answer.WaitAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BackplaneRequestException(BackplaneRequestFailure.Timeout, $"node '{nodeId}' did not answer '{kind}' within {timeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is not OperationCanceledException and not BackplaneRequestException)
        {
            throw new BackplaneRequestException(BackplaneRequestFailure.Failed, $"node '{nodeId}' failed to answer '{kind}': {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default)
    {
        // In one process the first participant leads until it leaves; then the next in line does.
        var participant = new Leadership(this, role);
        lock (_elections)
        {
            if (!_elections.TryGetValue(role, out var line))
            {
                _elections[role] = line = [];
            }
            line.Add(participant);
        }
        return ValueTask.FromResult<ILeadership>(participant);
    }

    private bool Leads(Leadership participant)
    {
        lock (_elections)
        {
            return _elections.TryGetValue(participant.Role, out var line) && line.Count > 0 && ReferenceEquals(line[0], participant);
        }
    }

    private void Leave(Leadership participant)
    {
        lock (_elections)
        {
            if (_elections.TryGetValue(participant.Role, out var line))
            {
                line.Remove(participant);
            }
        }
    }

    private sealed class Leadership(InMemoryBackplane backplane, string role) : ILeadership
    {
        public string Role { get; } = role;

        public bool IsLeader => backplane.Leads(this);

        public ValueTask DisposeAsync()
        {
            backplane.Leave(this);
            return ValueTask.CompletedTask;
        }
    }

    /// <inheritdoc/>
    public ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default)
    {
        lock (_groupsLock)
        {
            var current = _groups.GetValueOrDefault(group, []);
            if (!current.Contains(nodeId))
            {
                _groups[group] = [.. current, nodeId];
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default)
    {
        lock (_groupsLock)
        {
            RemoveFromGroup(group, nodeId);
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            Notify(observer, static (o, a) => o.OnHeartbeat(a), heartbeat);
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            if (observer.WantsPresenceOf(delta.NodeId))
            {
                Notify(observer, static (o, a) => o.OnPresence(a), delta);
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default)
    {
        foreach (var observer in Volatile.Read(ref _observers))
        {
            Notify(observer, static (o, a) => o.OnNodeLeft(a.nodeId, a.epoch), (nodeId, epoch));
        }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var nodeId in _nodes.Keys)
        {
            if (_nodes.TryRemove(nodeId, out var pump))
            {
                await pump.StopAsync().ConfigureAwait(false);
            }
        }
        _groups.Clear();
    }

    private static void Notify<T>(IClusterObserver observer, Action<IClusterObserver, T> callback, T argument)
    {
        try
        {
            callback(observer, argument);
        }
        catch (Exception)
        {
            // One broken observer must not cost the others their control stream, nor fail the publishing node.
        }
    }

    private void RemoveFromAllGroups(string nodeId)
    {
        lock (_groupsLock)
        {
            foreach (var group in _groups.Keys)
            {
                RemoveFromGroup(group, nodeId);
            }
        }
    }

    private void RemoveFromGroup(string group, string nodeId)
    {
        if (!_groups.TryGetValue(group, out var current) || !current.Contains(nodeId))
        {
            return;
        }
        var remaining = current.Where(id => id != nodeId).ToArray();
        if (remaining.Length == 0)
        {
            _groups.TryRemove(group, out _);
        }
        else
        {
            _groups[group] = remaining;
        }
    }

    private sealed class NodeInboxPump
    {
        private readonly Channel<RoutedMessage> _queue = Channel.CreateUnbounded<RoutedMessage>(
            new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
        private readonly Task _pump;

        public NodeInboxPump(INodeInbox inbox)
        {
            Inbox = inbox;
            _pump = Task.Run(async () =>
            {
                await foreach (var message in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    try
                    {
                        inbox.OnMessage(message);
                    }
                    catch (Exception)
                    {
                        // An inbox must not throw; if one does, the node's later messages must still flow.
                    }
                }
            });
        }

        public INodeInbox Inbox { get; }

        public void Post(RoutedMessage message) => _queue.Writer.TryWrite(message);

        public Task StopAsync()
        {
            _queue.Writer.TryComplete();
            return _pump;
        }
    }

    private sealed class Registration(Func<ValueTask> dispose) : IAsyncDisposable
    {
        private int _disposed;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _disposed, 1) == 0 ? dispose() : ValueTask.CompletedTask;
    }
}
