using System.Collections.Concurrent;

namespace Switchboard.Proxy.Listening;

/// <summary>
/// Every open client connection, for the connection cap, shutdown, and the idle timeout: one timer sweeps them all
/// rather than a timer per connection, which would cost memory for every idle tunnel.
/// </summary>
internal sealed class ConnectionRegistry : IDisposable
{
    private readonly ConcurrentDictionary<ClientConnection, byte> _open = new(ReferenceEqualityComparer.Instance);
    private readonly TimeProvider _time;
    private readonly Func<TimeSpan> _idleTimeout;
    private readonly ITimer _sweeper;
    private int _count;

    public ConnectionRegistry(TimeProvider time, Func<TimeSpan> idleTimeout, TimeSpan sweepPeriod)
    {
        _time = time;
        _idleTimeout = idleTimeout;
        _sweeper = time.CreateTimer(_ => SweepIdle(), null, sweepPeriod, sweepPeriod);
    }

    public int Count => Volatile.Read(ref _count);

    public ICollection<ClientConnection> Open => _open.Keys;

    /// <summary>Adds a connection unless <paramref name="cap"/> connections are open already.</summary>
    public bool TryAdd(ClientConnection connection, int cap)
    {
        if (Interlocked.Increment(ref _count) > cap)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        _open.TryAdd(connection, 0);
        return true;
    }

    public void Remove(ClientConnection connection)
    {
        if (_open.TryRemove(connection, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>Closes connections that moved no byte for the idle timeout. Runs on the timer; internal for tests.</summary>
    public int SweepIdle()
    {
        var idle = _idleTimeout();
        if (idle <= TimeSpan.Zero)
        {
            return 0;
        }
        var closed = 0;
        var now = _time.GetTimestamp();
        foreach (var connection in _open.Keys)
        {
            connection.NoteKernelTraffic(now);
            if (_time.GetElapsedTime(connection.LastActivity) > idle)
            {
                connection.Close("idle timeout");
                closed++;
            }
        }
        return closed;
    }

    public void CloseAll(string because)
    {
        foreach (var connection in _open.Keys)
        {
            connection.Close(because);
        }
    }

    public void Dispose() => _sweeper.Dispose();
}
