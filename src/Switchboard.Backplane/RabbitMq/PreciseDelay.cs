namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// A short wait timed by the operating system's sleep, on a thread of its own. .NET's timers (<c>Task.Delay</c>) count
/// in the kernel's coarse clock ticks on Linux: on a 250 Hz kernel, Debian's default, a 1-ms
/// <c>Task.Delay</c> took 3.8 ms at the median and a 5-ms one 7.7 ms, where <c>Thread.Sleep(1)</c> took 1.1 ms. A
/// batch window that is meant to last a millisecond must not cost every message four.
/// </summary>
/// <remarks>One waiter at a time: the publisher's one loop. The thread sleeps only while a wait is asked for.</remarks>
internal sealed class PreciseDelay : IDisposable
{
    // Whole milliseconds, rounded up: the OS's sleep takes no less, and a shorter one would not wait at all.
    private readonly int _delayMs;
    private readonly object _gate = new();
    private readonly Thread _thread;
    private TaskCompletionSource? _asked;
    private bool _disposed;

    /// <summary>Starts the thread that times waits of <paramref name="delay"/>, rounded up to whole milliseconds.</summary>
    public PreciseDelay(TimeSpan delay)
    {
        _delayMs = (int)Math.Ceiling(delay.TotalMilliseconds);
        _thread = new Thread(Run) { IsBackground = true, Name = "Backplane coalescing window" };
        _thread.Start();
    }

    /// <summary>Completes once the delay has passed since the call (or at once after <see cref="Dispose"/>).</summary>
    public Task WaitAsync()
    {
        var waited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_disposed)
            {
                return Task.CompletedTask;
            }
            if (_asked is not null)
            {
                throw new InvalidOperationException("PreciseDelay takes one waiter at a time.");
            }
            _asked = waited;
            Monitor.Pulse(_gate);
        }
        return waited.Task;
    }

    /// <summary>Ends the thread; a wait in progress completes when its sleep ends.</summary>
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
        while (true)
        {
            TaskCompletionSource asked;
            lock (_gate)
            {
                while (_asked is null && !_disposed)
                {
                    Monitor.Wait(_gate);
                }
                if (_asked is null)
                {
                    return;
                }
                asked = _asked;
            }
            Thread.Sleep(_delayMs);
            lock (_gate)
            {
                _asked = null;
            }
            asked.TrySetResult();
        }
    }
}
