namespace Switchboard.Client;

/// <summary>
/// Keeps commands in call order across a reconnect. Commands are numbered in call order. One that cannot go out at
/// once joins a queue: one written on a connection that then ended (a send is sent again; another command fails),
/// one waiting for a connection, and one that found commands queued before it. Queued commands are written one at a
/// time, lowest number first, and a command leaves the queue once written on the live connection (or when it is done
/// or gives up); a later one that finds the queue holding a lower number waits its turn. So the node sees a resent
/// send before the commands made after it, as it would have without the reconnect.
/// </summary>
/// <remarks>
/// On a steady connection nothing is queued and a command never waits: it costs a lock to note which connection
/// carries it and one to forget it once answered.
/// </remarks>
/// <typeparam name="TConnection">The connection type, compared by reference.</typeparam>
internal sealed class SendOrder<TConnection>
    where TConnection : class
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, TConnection> _onConnection = [];
    private readonly SortedSet<long> _queued = [];
    private readonly Dictionary<long, TaskCompletionSource> _waiting = [];
    private TConnection? _live;
    private volatile int _queuedCount;

    /// <summary>The connection commands now go to; until it ends, a command written on it leaves the queue.</summary>
    public void Live(TConnection connection)
    {
        lock (_lock)
        {
            _live = connection;
        }
    }

    /// <summary>A connection ended: what was written on it and not answered is sent again, or fails.</summary>
    public void Ended(TConnection connection)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_live, connection))
            {
                _live = null;
            }
            foreach (var (number, on) in _onConnection)
            {
                if (ReferenceEquals(on, connection))
                {
                    _queued.Add(number);
                }
            }
            _queuedCount = _queued.Count;
        }
    }

    /// <summary>Command <paramref name="number"/> waits for a connection: commands made after it go out after it.</summary>
    public void WaitingForConnection(long number)
    {
        lock (_lock)
        {
            _queued.Add(number);
            _queuedCount = _queued.Count;
        }
    }

    /// <summary>Waits until no command made before command <paramref name="number"/> is queued.</summary>
    public Task WaitTurnAsync(long number, CancellationToken cancellationToken)
    {
        if (_queuedCount == 0)
        {
            return Task.CompletedTask;
        }
        lock (_lock)
        {
            if (IsTurnOf(number))
            {
                return Task.CompletedTask;
            }
            // Queued itself, so that commands after it, woken one at a time, cannot overtake it.
            _queued.Add(number);
            _queuedCount = _queued.Count;
            var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting[number] = turn;
            return turn.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Command <paramref name="number"/> is about to be written on <paramref name="connection"/>.</summary>
    public void Writing(long number, TConnection connection)
    {
        lock (_lock)
        {
            _onConnection[number] = connection;
            if (!ReferenceEquals(connection, _live))
            {
                _queued.Add(number);
                _queuedCount = _queued.Count;
            }
        }
    }

    /// <summary>Command <paramref name="number"/> has been written on <paramref name="connection"/>.</summary>
    public void Written(long number, TConnection connection)
    {
        // Only a queued command has anything to do here, and while it is queued the count cannot fall to zero.
        if (_queuedCount == 0)
        {
            return;
        }
        lock (_lock)
        {
            if (ReferenceEquals(connection, _live) && _onConnection.TryGetValue(number, out var on) && ReferenceEquals(on, connection))
            {
                Leave(number);
            }
        }
    }

    /// <summary>Command <paramref name="number"/> is answered, failed or gave up: it will not be written again.</summary>
    public void Done(long number)
    {
        lock (_lock)
        {
            _onConnection.Remove(number);
            _waiting.Remove(number);
            Leave(number);
        }
    }

    private void Leave(long number)
    {
        if (!_queued.Remove(number))
        {
            return;
        }
        _queuedCount = _queued.Count;
        // Only the lowest queued command may go next; waking more would let them race each other to the socket.
        if (_queued.Count > 0 && _waiting.Remove(_queued.Min, out var next))
        {
            next.TrySetResult();
        }
    }

    private bool IsTurnOf(long number) => _queued.Count == 0 || _queued.Min >= number;
}
