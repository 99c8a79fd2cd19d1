using System.Collections.Concurrent;

namespace Switchboard.Bench.Workers;

/// <summary>
/// Closed-loop flow control for flat-out traffic: a worker keeps at most <c>limit</c> deliveries outstanding (sent by its
/// senders and not yet received by its own clients), so "flat out" measures what the system sustains rather than how
/// deep its queues grow. Each sender also keeps at most <c>perSenderLimit</c> outstanding: with only the shared limit,
/// a sender that got the thread more often could pile the whole window onto one receiver, past the node's send queue
/// (<c>Node:SendQueueCapacity</c>), which closes that receiver as a slow consumer (3008).
/// </summary>
internal sealed class FlowWindow(long limit, int deliveriesPerMessage, long perSenderLimit)
{
    private readonly Gate _all = new();
    private readonly ConcurrentDictionary<int, Gate> _bySender = new();

    /// <summary>
    /// Waits until there is room for one more message of <paramref name="sender"/>; after <paramref name="patience"/> it
    /// lets the message go anyway, since a delivery lost for good would otherwise hold its share of the window forever.
    /// </summary>
    public async ValueTask WaitAsync(int sender, TimeSpan patience, CancellationToken cancellationToken)
    {
        await _all.WaitAsync(limit, patience, cancellationToken).ConfigureAwait(false);
        await _bySender.GetOrAdd(sender, static _ => new Gate()).WaitAsync(perSenderLimit, patience, cancellationToken).ConfigureAwait(false);
    }

    public void OnSent(int sender)
    {
        _all.Add(deliveriesPerMessage);
        _bySender.GetOrAdd(sender, static _ => new Gate()).Add(deliveriesPerMessage);
    }

    public void OnDelivered(int sender)
    {
        _all.Remove(limit);
        if (_bySender.TryGetValue(sender, out var gate))
        {
            gate.Remove(perSenderLimit);
        }
    }

    /// <summary>Deliveries outstanding against one limit, and the waiters for room under it.</summary>
    private sealed class Gate
    {
        private readonly Lock _lock = new();
        private long _outstanding;
        private TaskCompletionSource? _opened;

        public async ValueTask WaitAsync(long limit, TimeSpan patience, CancellationToken cancellationToken)
        {
            Task opened;
            lock (_lock)
            {
                if (_outstanding < limit)
                {
                    return;
                }
                _opened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                opened = _opened.Task;
            }
            try
            {
                await opened.WaitAsync(patience, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }

        public void Add(long deliveries) => Interlocked.Add(ref _outstanding, deliveries);

        public void Remove(long limit)
        {
            if (Interlocked.Decrement(ref _outstanding) < limit && Volatile.Read(ref _opened) is not null)
            {
                lock (_lock)
                {
                    _opened?.TrySetResult();
                    _opened = null;
                }
            }
        }
    }
}
