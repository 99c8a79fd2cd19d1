using System.Diagnostics;

namespace Switchboard.Bench.Load;

/// <summary>
/// Wakes paced senders at their due times, timed on a thread of its own by the operating system's timed wait (about a
/// millisecond of resolution). .NET's timers (<c>Task.Delay</c>) count in the kernel's coarse clock ticks on Linux,
/// ~4 ms on a 250 Hz kernel: every sender due within one tick woke at the same moment, so a "steady" 5,000 msg/s
/// left in bursts of ~20 messages every 4 ms, and the burst's own queueing showed up in the measured latency.
/// </summary>
/// <remarks>
/// A woken sender runs on the pacer's thread until it waits again (its continuation is not handed to the thread pool):
/// a paced send to a socket with room completes at once, and a thread-pool hop for every message cost the load
/// generator more than the send. A sender that has fallen behind goes on to the thread pool after four sends in a row
/// (<c>BenchWorker</c>), so that it does not hold up the senders due after it.
/// </remarks>
internal sealed class Pacer : IDisposable
{
    private readonly object _gate = new();
    private readonly PriorityQueue<TaskCompletionSource, long> _due = new();
    private readonly Thread _thread;
    private bool _disposed;

    /// <summary>Starts the pacing thread.</summary>
    public Pacer()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "Bench pacer" };
        _thread.Start();
    }

    /// <summary>
    /// Completes at <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp) or soon after it, never
    /// before; at once when it has passed or the pacer is disposed. Cancelling ends the wait with a cancellation.
    /// </summary>
    public Task WaitUntilAsync(long timestamp, CancellationToken cancellationToken)
    {
        if (Stopwatch.GetTimestamp() >= timestamp)
        {
            return Task.CompletedTask;
        }
        var woken = new TaskCompletionSource();
        lock (_gate)
        {
            if (_disposed)
            {
                return Task.CompletedTask;
            }
            var first = !_due.TryPeek(out _, out var earliest) || timestamp < earliest;
            _due.Enqueue(woken, timestamp);
            if (first)
            {
                Monitor.Pulse(_gate);
            }
        }
        return cancellationToken.CanBeCanceled ? woken.Task.WaitAsync(cancellationToken) : woken.Task;
    }

    /// <summary>Completes every wait still pending and ends the thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.Pulse(_gate);
        }
    }

    private void Run()
    {
        var ready = new List<TaskCompletionSource>();
        var ended = false;
        while (!ended)
        {
            lock (_gate)
            {
                while (ready.Count == 0 && !ended)
                {
                    if (_disposed)
                    {
                        while (_due.TryDequeue(out var pending, out _))
                        {
                            ready.Add(pending);
                        }
                        ended = true;
                    }
                    else if (!_due.TryPeek(out _, out var earliest))
                    {
                        Monitor.Wait(_gate);
                    }
                    else
                    {
                        var now = Stopwatch.GetTimestamp();
                        while (_due.TryPeek(out _, out var at) && at <= now)
                        {
                            ready.Add(_due.Dequeue());
                        }
                        if (ready.Count == 0)
                        {
                            // Whole milliseconds, rounded up: a wait may end late, never early.
                            Monitor.Wait(_gate, (int)Math.Ceiling((earliest - now) * 1000.0 / Stopwatch.Frequency));
                        }
                    }
                }
            }
            foreach (var woken in ready)
            {
                woken.TrySetResult();
            }
            ready.Clear();
        }
    }
}
