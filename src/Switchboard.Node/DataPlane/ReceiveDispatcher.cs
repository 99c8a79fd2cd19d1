using System.Collections.Concurrent;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// Finishes the receives the reactor found ready on the thread pool, many per work item: each receive's bytes are
/// taken and its reader resumed right there, as .NET's own socket engine does, so the reactor's thread only waits on
/// epoll and a burst of ready sockets costs one dispatch rather than one per socket.
/// </summary>
internal sealed class ReceiveDispatcher : IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<ReactorWaits> _ready = new();
    private int _scheduled;

    /// <summary>Queues <paramref name="waits"/>, whose receive left its wait, to be finished on the thread pool.</summary>
    public void Enqueue(ReactorWaits waits)
    {
        _ready.Enqueue(waits);
        Schedule();
    }

    /// <inheritdoc/>
    public void Execute()
    {
        // Cleared first: what is queued from now on schedules another work item, so nothing waits behind a reader
        // that runs long.
        Volatile.Write(ref _scheduled, 0);
        while (_ready.TryDequeue(out var waits))
        {
            if (!_ready.IsEmpty)
            {
                // The others need not wait for this reader: another work item takes them in parallel.
                Schedule();
            }
            waits.FinishReceive();
        }
    }

    private void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }
}
