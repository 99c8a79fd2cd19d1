using System.Collections.Concurrent;

namespace Switchboard.Security.Tickets;

/// <summary>
/// Makes tickets single-use on a node: remembers each ticket id until the ticket expires (tickets travel in
/// URLs and can end up in logs; a copied one must not open a second connection).
/// </summary>
public sealed class TicketReplayGuard : IDisposable
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _used = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _clockSkew;
    private readonly ITimer _sweeper;

    /// <summary>Creates a guard that forgets ids once their tickets can no longer pass validation.</summary>
    public TicketReplayGuard(TimeSpan clockSkew, TimeProvider? timeProvider = null, TimeSpan? sweepInterval = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _clockSkew = clockSkew;
        var interval = sweepInterval ?? TimeSpan.FromSeconds(10);
        _sweeper = _time.CreateTimer(_ => Sweep(), null, interval, interval);
    }

    /// <summary>Tickets remembered now.</summary>
    public int Count => _used.Count;

    /// <summary>True the first time a ticket is used; false for every later use.</summary>
    public bool TryUse(Ticket ticket) => _used.TryAdd(ticket.TicketId, ticket.ExpiresAt + _clockSkew);

    /// <summary>Forgets tickets that have expired. Runs on a timer; public for tests on virtual time.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, expires) in _used)
        {
            if (expires < now)
            {
                _used.TryRemove(new KeyValuePair<string, DateTimeOffset>(id, expires));
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _sweeper.Dispose();
}
