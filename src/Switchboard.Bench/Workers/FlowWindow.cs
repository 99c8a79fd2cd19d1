namespace Switchboard.Bench.Workers;

/// <summary>
/// Closed-loop flow control for flat-out traffic: a worker keeps at most <c>limit</c> deliveries outstanding (sent by its
/// senders and not yet received by its own clients), so "flat out" measures what the system sustains rather than how
/// deep its queues grow.
/// </summary>
internal sealed class FlowWindow(long limit, int deliveriesPerMessage)
{
    private readonly Lock _lock = new();
    private long _outstanding;
    private TaskCompletionSource? _opened;

    /// <summary>Waits until there is room for one more message; after <paramref name="patience"/> it lets the message go
    /// anyway, since a delivery lost for good would otherwise hold its share of the window forever.</summary>
    public async ValueTask WaitAsync(TimeSpan patience, CancellationToken cancellationToken)
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

    public void OnSent() => Interlocked.Add(ref _outstanding, deliveriesPerMessage);

    public void OnDelivered()
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
