namespace Switchboard.Proxy.Backends;

/// <summary>
/// A backend and its live state. The same object survives configuration reloads and cluster updates as long as
/// its id stays, so its connection count and health carry over.
/// </summary>
internal sealed class Backend
{
    private readonly Lock _lock = new();
    private int _connections;
    private int _successes;
    private int _failures;
    private long _dials;
    private long _dialFailures;
    private DateTimeOffset _ejectedUntil = DateTimeOffset.MaxValue;

    public Backend(string id, Uri url, int weight)
    {
        Id = id;
        Url = url;
        Weight = weight;
    }

    public string Id { get; }

    /// <summary>True for a node learnt from heartbeats, false for a static backend.</summary>
    public bool FromCluster { get; init; }

    /// <summary>Changes only for cluster nodes that restart on another URL.</summary>
    public Uri Url { get; set; }

    public int Weight { get; set; }

    /// <summary>The node's load score from its latest heartbeat (0–1 and above), or null for a static backend.</summary>
    public double? ReportedLoad { get; set; }

    /// <summary>The node's connection capacity from its latest heartbeat, for turning our own placements into load.</summary>
    public int ReportedCapacity { get; set; }

    /// <summary>Connections this proxy placed on the node since its latest heartbeat (which does not count them yet).</summary>
    public int PlacedSinceHeartbeat;

    public bool Draining { get; set; }

    public bool Ejected { get; private set; }

    /// <summary>True after a cluster node stopped sending heartbeats, or a reload removed the backend: it only finishes its tunnels.</summary>
    public bool Removed { get; set; }

    public int Connections => Volatile.Read(ref _connections);

    public long Dials => Interlocked.Read(ref _dials);

    public long DialFailures => Interlocked.Read(ref _dialFailures);

    public BackendState State => Ejected ? BackendState.Ejected : Draining ? BackendState.Draining : BackendState.Up;

    /// <summary>Whether a new connection may go here now. A passively ejected backend without active checks is retried after its ejection time.</summary>
    public bool IsAvailable(DateTimeOffset now)
    {
        if (Removed || Draining)
        {
            return false;
        }
        if (!Ejected)
        {
            return true;
        }
        lock (_lock)
        {
            return now >= _ejectedUntil;
        }
    }

    /// <summary>The load least-loaded compares: the heartbeat's score plus what we placed since, or null without heartbeats.</summary>
    public double? EstimatedLoad =>
        ReportedLoad is { } load && ReportedCapacity > 0 ? load + (double)Volatile.Read(ref PlacedSinceHeartbeat) / ReportedCapacity : ReportedLoad;

    public void AddConnection()
    {
        Interlocked.Increment(ref _connections);
        Interlocked.Increment(ref PlacedSinceHeartbeat);
    }

    public void RemoveConnection() => Interlocked.Decrement(ref _connections);

    /// <summary>An active check passed or a dial succeeded. Returns true when this brought the backend back.</summary>
    public bool ReportSuccess(int rise, bool fromActiveCheck)
    {
        if (!fromActiveCheck)
        {
            Interlocked.Increment(ref _dials);
        }
        lock (_lock)
        {
            _failures = 0;
            if (!Ejected)
            {
                return false;
            }
            // A dial that worked on a passively ejected backend proves it is back; an actively checked one needs `rise` checks.
            if (!fromActiveCheck && _ejectedUntil != DateTimeOffset.MaxValue)
            {
                Ejected = false;
                return true;
            }
            if (++_successes >= rise)
            {
                Ejected = false;
                _successes = 0;
                return true;
            }
            return false;
        }
    }

    /// <summary>
    /// An active check or a dial failed. After <paramref name="fall"/> in a row the backend is ejected, until
    /// <paramref name="retryAt"/> (passive ejection without active checks) or until <c>rise</c> checks pass.
    /// Returns true when this ejected it.
    /// </summary>
    public bool ReportFailure(int fall, DateTimeOffset retryAt, bool isDial)
    {
        if (isDial)
        {
            Interlocked.Increment(ref _dials);
            Interlocked.Increment(ref _dialFailures);
        }
        lock (_lock)
        {
            _successes = 0;
            if (Ejected)
            {
                // A failed retry of a passively ejected backend starts a new ejection period.
                if (_ejectedUntil != DateTimeOffset.MaxValue)
                {
                    _ejectedUntil = retryAt;
                }
                return false;
            }
            if (++_failures >= fall)
            {
                Ejected = true;
                _ejectedUntil = retryAt;
                _failures = 0;
                return true;
            }
            return false;
        }
    }

    public override string ToString() => Id;
}
