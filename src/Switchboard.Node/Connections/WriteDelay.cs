using System.Collections.Concurrent;

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
/// queued.
/// </remarks>
internal sealed class WriteDelay : IAsyncDisposable
{
    private readonly ConcurrentQueue<(ClientConnection Connection, long Due)> _due = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    // 1 while the loop waits for a first entry; whoever queues one then wakes it.
    private int _asleep;

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
    /// no finer than a millisecond anyway.
    /// </summary>
    public static long Now => Environment.TickCount64;

    /// <summary>Has <paramref name="connection"/> write what it has queued once <paramref name="due"/> (<see cref="Now"/>'s milliseconds) has passed.</summary>
    public void Schedule(ClientConnection connection, long due)
    {
        _due.Enqueue((connection, due));
        if (Interlocked.Exchange(ref _asleep, 0) == 1)
        {
            _wake.Release();
        }
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (!_due.TryPeek(out var head))
                {
                    Volatile.Write(ref _asleep, 1);
                    // Checked again after saying so: an entry queued just before would otherwise wait for the next one.
                    if (_due.IsEmpty)
                    {
                        await _wake.WaitAsync(stopping).ConfigureAwait(false);
                    }
                    else if (Interlocked.Exchange(ref _asleep, 0) == 0)
                    {
                        // A producer saw the flag and released the semaphore: take that release back.
                        await _wake.WaitAsync(stopping).ConfigureAwait(false);
                    }
                    continue;
                }
                var wait = head.Due - Now;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), stopping).ConfigureAwait(false);
                }
                var now = Now;
                while (_due.TryPeek(out var next) && next.Due <= now && _due.TryDequeue(out next))
                {
                    next.Connection.WriteDeferred();
                }
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
        // Whatever still waits goes out now rather than never.
        while (_due.TryDequeue(out var entry))
        {
            entry.Connection.WriteDeferred();
        }
        _stopping.Dispose();
        _wake.Dispose();
    }
}
