namespace Switchboard.Node.Connections;

/// <summary>
/// The node's one timer for <see cref="NodeOptions.WriteDelay"/>. A connection that wrote to its socket less than the
/// delay ago does not write again at once: it queues here, and its frames leave together when the delay since that
/// write has passed. Each socket write to a client costs the node (and, on one host, the client) a few microseconds
/// whatever it carries, so at a steady stream of small messages per connection, fewer and fuller writes are what
/// raises throughput. A connection that has been quiet for the delay writes at once, so sparse traffic gains no latency.
/// </summary>
/// <remarks>
/// Connections are taken in the order they queued. All wait the same delay, so the order is nearly that of their due
/// times; one due earlier than the one ahead of it waits for that one, which is still at most the delay from when it
/// queued. Connections call in under their own lock, so this one's lock is never held while calling them.
/// </remarks>
internal sealed class WriteDelay : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Queue<(ClientConnection Connection, long Due)> _due = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    // Guarded by _lock. The loop waits for a first entry; whoever queues one then wakes it.
    private bool _asleep;
    private bool _disposed;

    /// <param name="delay">The least time between two writes to one connection; at least a millisecond.</param>
    public WriteDelay(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.FromMilliseconds(1));
        Milliseconds = (long)delay.TotalMilliseconds;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The least time between two writes to one connection, in milliseconds.</summary>
    public long Milliseconds { get; }

    /// <summary>
    /// Now, in milliseconds of a monotonic clock. A coarse clock on purpose: it is read for every message queued, and
    /// a precise one (the TSC through the vDSO) cost the nodes ~3 % of their CPU in a fanout; the loop's own timer is
    /// no finer than the kernel's tick anyway.
    /// </summary>
    public static long Now => Environment.TickCount64;

    /// <summary>
    /// Has <paramref name="connection"/> write what it has queued once <paramref name="due"/> (<see cref="Now"/>'s
    /// milliseconds) has passed. False once the node has stopped: the caller then writes at once.
    /// </summary>
    public bool Schedule(ClientConnection connection, long due)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return false;
            }
            _due.Enqueue((connection, due));
            if (_asleep)
            {
                _asleep = false;
                _wake.Release();
            }
            return true;
        }
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        var ready = new List<ClientConnection>();
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                long headDue;
                bool empty;
                lock (_lock)
                {
                    empty = _asleep = _due.Count == 0;
                    headDue = empty ? 0 : _due.Peek().Due;
                }
                if (empty)
                {
                    await _wake.WaitAsync(stopping).ConfigureAwait(false);
                    continue;
                }
                var wait = headDue - Now;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), stopping).ConfigureAwait(false);
                }
                var now = Now;
                lock (_lock)
                {
                    while (_due.TryPeek(out var next) && next.Due <= now)
                    {
                        ready.Add(_due.Dequeue().Connection);
                    }
                }
                foreach (var connection in ready)
                {
                    connection.WriteDeferred();
                }
                ready.Clear();
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        List<ClientConnection> left;
        lock (_lock)
        {
            _disposed = true;
            left = [.. _due.Select(e => e.Connection)];
            _due.Clear();
        }
        // Whatever still waits goes out now rather than never.
        foreach (var connection in left)
        {
            connection.WriteDeferred();
        }
        _stopping.Dispose();
    }
}
