using Switchboard.Backplane;

namespace Switchboard.Proxy.Backends;

/// <summary>
/// Every backend the proxy knows: the static list and/or the cluster's nodes. Readers take an immutable snapshot
/// (no lock on the accept path); writers replace it under a lock. A backend that disappears keeps its object until
/// its last tunnel ends, so established connections continue; one that comes back meanwhile gets the same object
/// again, so its connection count still counts them, and starts otherwise as a new backend (its health afresh).
/// A static backend and a cluster node may share an id: they are two backends, each added and removed only by its own
/// source (a reload, heartbeats), and a node id always means the cluster node.
/// </summary>
internal sealed class BackendPool
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private Backend[] _all = [];
    // Removed backends with connections still open, by id (under _lock): taken back if the id returns.
    // Keyed by id and origin: a static backend and a cluster node may share an id, and both be retired with tunnels.
    private readonly Dictionary<(string Id, bool FromCluster), Backend> _retired = new();

    public BackendPool(TimeProvider time) => _time = time;

    /// <summary>Raised after the set of backends changed (for the health checker).</summary>
    public event Action? Changed;

    /// <summary>The current backends, removed ones excluded.</summary>
    public Backend[] All => Volatile.Read(ref _all);

    /// <summary>The backends a new connection may go to now.</summary>
    public List<Backend> Candidates()
    {
        var now = _time.GetUtcNow();
        var all = All;
        var candidates = new List<Backend>(all.Length);
        foreach (var backend in all)
        {
            if (backend.IsAvailable(now))
            {
                candidates.Add(backend);
            }
        }
        return candidates;
    }

    /// <summary>The cluster node of this id, or null (a static backend of that id is no node).</summary>
    public Backend? FindNode(string nodeId) => Array.Find(All, b => b.FromCluster && b.Id == nodeId);

    /// <summary>The static backend of this id, or null.</summary>
    public Backend? FindStatic(string id) => Array.Find(All, b => !b.FromCluster && b.Id == id);

    /// <summary>The ids that a static backend and a cluster node both have, each once.</summary>
    public List<string> SharedIds()
    {
        var all = All;
        return [.. all.Where(b => !b.FromCluster && Array.Exists(all, c => c.FromCluster && c.Id == b.Id)).Select(b => b.Id).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Removed backends still kept because tunnels to them were open when last looked at.</summary>
    public int RetiredCount
    {
        get
        {
            lock (_lock)
            {
                return _retired.Count;
            }
        }
    }

    /// <summary>Replaces the static backends; backends whose id stays keep their state (connections, health).</summary>
    public void SetStatic(IReadOnlyList<BackendAddress> addresses)
    {
        lock (_lock)
        {
            ForgetRetiredWithoutTunnels();
            var old = _all.Where(b => !b.FromCluster).ToDictionary(b => b.Id, StringComparer.Ordinal);
            var next = new List<Backend>(addresses.Count);
            foreach (var address in addresses)
            {
                if (next.Exists(b => b.Id == address.Id))
                {
                    continue;
                }
                if (old.Remove(address.Id, out var kept))
                {
                    kept.Url = address.Url;
                    kept.Weight = address.Weight;
                    next.Add(kept);
                }
                else if (Revive(address.Id, fromCluster: false) is { } revived)
                {
                    revived.Url = address.Url;
                    revived.Weight = address.Weight;
                    next.Add(revived);
                }
                else
                {
                    next.Add(new Backend(address.Id, address.Url, address.Weight));
                }
            }
            foreach (var gone in old.Values)
            {
                Retire(gone);
            }
            next.AddRange(_all.Where(b => b.FromCluster));
            Volatile.Write(ref _all, next.ToArray());
        }
        Changed?.Invoke();
    }

    /// <summary>
    /// Adds or refreshes a cluster node from its heartbeat; a draining node stays known but takes nothing new. True when
    /// the node was added (it was not known), decided under the pool's lock so that a removal racing the heartbeat
    /// cannot hide the addition.
    /// </summary>
    public bool Observe(NodeHeartbeat heartbeat, double load)
    {
        if (!Uri.TryCreate(heartbeat.Url, UriKind.Absolute, out var url))
        {
            return false;
        }
        var added = false;
        lock (_lock)
        {
            ForgetRetiredWithoutTunnels();
            var backend = Array.Find(_all, b => b.FromCluster && b.Id == heartbeat.NodeId);
            if (backend is null)
            {
                backend = Revive(heartbeat.NodeId, fromCluster: true) ?? new Backend(heartbeat.NodeId, url, weight: 1) { FromCluster = true };
                Volatile.Write(ref _all, [.. _all, backend]);
                added = true;
            }
            backend.Url = url;
            backend.Draining = heartbeat.Draining;
            backend.ReportedLoad = load;
            backend.ReportedCapacity = heartbeat.Capacity;
            Volatile.Write(ref backend.PlacedSinceHeartbeat, 0);
        }
        if (added)
        {
            Changed?.Invoke();
        }
        return added;
    }

    /// <summary>Forgets a cluster node (it left or went silent); a static backend of its id stays.</summary>
    public void RemoveNode(string nodeId)
    {
        lock (_lock)
        {
            var backend = Array.Find(_all, b => b.FromCluster && b.Id == nodeId);
            if (backend is null)
            {
                return;
            }
            Retire(backend);
            Volatile.Write(ref _all, Array.FindAll(_all, b => b != backend));
        }
        Changed?.Invoke();
    }

    /// <summary>Under _lock: the backend takes nothing new; it is kept while its tunnels last, in case its id returns.</summary>
    private void Retire(Backend backend)
    {
        backend.Removed = true;
        ForgetRetiredWithoutTunnels();
        // Without tunnels there is nothing to carry over: a returning id gets a new object.
        if (backend.Connections > 0)
        {
            _retired[(backend.Id, backend.FromCluster)] = backend;
        }
    }

    /// <summary>Under _lock: the retired whose tunnels have all ended are forgotten at every change, so they stay few.</summary>
    private void ForgetRetiredWithoutTunnels()
    {
        foreach (var (key, retired) in _retired)
        {
            if (retired.Connections == 0)
            {
                _retired.Remove(key);
            }
        }
    }

    /// <summary>Under _lock: the object of a backend removed earlier whose id is back, or null.</summary>
    private Backend? Revive(string id, bool fromCluster)
    {
        // A static backend and a cluster node may share an id: each gets back only its own, and the other's stays kept.
        // One whose tunnels have all ended has nothing to carry over: a new object starts afresh.
        if (!_retired.TryGetValue((id, fromCluster), out var backend) || backend.Connections == 0)
        {
            return null;
        }
        _retired.Remove((id, fromCluster));
        backend.Removed = false;
        backend.StartAfresh();
        return backend;
    }
}
