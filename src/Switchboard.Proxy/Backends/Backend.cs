namespace Switchboard.Proxy.Backends;

/// <summary>
/// A backend and its live state. The same object survives configuration reloads and cluster updates as long as
/// its id stays, so its connection count and health carry over; one removed and added again while its tunnels last
/// gets the same object back, with its connection count only.
/// </summary>
internal sealed class Backend
{
    private readonly Lock _lock = new();
    private int _connections;
    private int _checksPassed;
    private int _checksFailed;
    private int _passiveFailures;
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

    /// <summary>
    /// A dial succeeded: that resets the count of passive failures only, since a backend can take TCP connections and
    /// still fail its health checks. Returns true when this brought a passively ejected backend back.
    /// </summary>
    public bool ReportDialSucceeded()
    {
        Interlocked.Increment(ref _dials);
        lock (_lock)
        {
            _passiveFailures = 0;
            // A dial that worked on a passively ejected backend proves it is back; an actively checked one needs `rise` checks.
            if (!Ejected || _ejectedUntil == DateTimeOffset.MaxValue)
            {
                return false;
            }
            Restore();
            return true;
        }
    }

    /// <summary>
    /// An active check passed: that resets the count of failed checks, and <paramref name="rise"/> in a row bring an
    /// ejected backend back. Returns true when this brought it back.
    /// </summary>
    public bool ReportCheckPassed(int rise)
    {
        lock (_lock)
        {
            _checksFailed = 0;
            if (!Ejected || ++_checksPassed < rise)
            {
                return false;
            }
            Restore();
            return true;
        }
    }

    /// <summary>
    /// An active check failed. After <paramref name="fall"/> in a row, whatever dials succeeded in between, the backend
    /// is ejected until <c>rise</c> checks pass. Returns true when this ejected it.
    /// </summary>
    public bool ReportCheckFailed(int fall)
    {
        lock (_lock)
        {
            _checksPassed = 0;
            if (Ejected)
            {
                // Checks now decide when a passively ejected backend is back, as they would have had it been ejected with them on.
                _ejectedUntil = DateTimeOffset.MaxValue;
                return false;
            }
            if (++_checksFailed < fall)
            {
                return false;
            }
            Eject(DateTimeOffset.MaxValue);
            return true;
        }
    }

    /// <summary>
    /// Active checks were turned off: an ejection only a passing check could have ended now ends at
    /// <paramref name="retryAt"/>, after which a dial that works brings the backend back, as after a passive ejection.
    /// </summary>
    public void RetryWithoutChecksAt(DateTimeOffset retryAt)
    {
        lock (_lock)
        {
            if (Ejected && _ejectedUntil == DateTimeOffset.MaxValue)
            {
                _ejectedUntil = retryAt;
            }
        }
    }

    /// <summary>
    /// A dial failed (<paramref name="isDial"/>) or a tunnel ended abnormally. After <paramref name="fall"/> in a row
    /// without a dial that worked, the backend is ejected until <paramref name="retryAt"/> (without active checks) or
    /// until <c>rise</c> checks pass. Returns true when this ejected it.
    /// </summary>
    public bool ReportPassiveFailure(int fall, DateTimeOffset retryAt, bool isDial)
    {
        if (isDial)
        {
            Interlocked.Increment(ref _dials);
            Interlocked.Increment(ref _dialFailures);
        }
        lock (_lock)
        {
            if (Ejected)
            {
                // A failed retry of a passively ejected backend starts a new ejection period.
                if (_ejectedUntil != DateTimeOffset.MaxValue)
                {
                    _ejectedUntil = retryAt;
                }
                return false;
            }
            if (++_passiveFailures < fall)
            {
                return false;
            }
            Eject(retryAt);
            return true;
        }
    }

    /// <summary>
    /// The backend was removed and is added again while tunnels to it last: it starts as a new backend would (what ejected
    /// it may be gone with the checks that could have ended the ejection); only its connection count carries over.
    /// </summary>
    public void StartAfresh()
    {
        lock (_lock)
        {
            Restore();
            _ejectedUntil = DateTimeOffset.MaxValue;
        }
    }

    // Both run under _lock; every count starts afresh in the new state.
    private void Eject(DateTimeOffset until)
    {
        Ejected = true;
        _ejectedUntil = until;
        _checksPassed = _checksFailed = _passiveFailures = 0;
    }

    private void Restore()
    {
        Ejected = false;
        _checksPassed = _checksFailed = _passiveFailures = 0;
    }

    public override string ToString() => Id;
}
