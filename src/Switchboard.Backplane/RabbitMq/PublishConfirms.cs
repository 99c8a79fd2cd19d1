namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// The broker's publisher confirms on one publishing channel: which of its messages the broker has taken (routed to
/// their queues, or returned as unroutable). A flush waits here until the broker has confirmed everything published
/// before it, so a process killed after the flush completed has taken none of those messages with it: not while they
/// waited in the client library's write queue, nor in its kernel's socket buffer.
/// </summary>
/// <remarks>
/// Sequence numbers are the channel's own (<c>GetNextPublishSequenceNumberAsync</c>), in the order published. The
/// broker confirms in order as a rule, with <c>multiple</c> covering a run, but may confirm one out of order; those
/// wait in <see cref="_early"/> until the numbers below them are confirmed too.
/// </remarks>
internal sealed class PublishConfirms
{
    private readonly Lock _lock = new();
    private readonly SortedSet<ulong> _early = [];
    // In the order added, so in order of Through.
    private readonly List<(ulong Through, TaskCompletionSource Done)> _waiters = [];
    private ulong _published;
    private ulong _confirmedThrough;
    // A refused number that no waiter covered yet fails the next one to register.
    private ulong _lastRefused;
    private ulong _coveredThrough;
    private Exception? _failure;

    /// <summary>Records that the message numbered <paramref name="sequenceNumber"/> was handed to the channel.</summary>
    public void Published(ulong sequenceNumber)
    {
        lock (_lock)
        {
            _published = Math.Max(_published, sequenceNumber);
        }
    }

    /// <summary>
    /// Completes <paramref name="done"/> once the broker has confirmed every message published so far; fails it when
    /// the broker refuses one of them or the channel is lost first.
    /// </summary>
    public void WhenConfirmed(TaskCompletionSource done)
    {
        lock (_lock)
        {
            var refused = _lastRefused > _coveredThrough;
            _coveredThrough = _published;
            if (refused)
            {
                done.TrySetException(Refused(_lastRefused, multiple: false));
            }
            else if (_confirmedThrough >= _published)
            {
                // Everything confirmed: a channel lost afterwards took nothing this waiter cares about.
                done.TrySetResult();
            }
            else if (_failure is not null)
            {
                done.TrySetException(_failure);
            }
            else
            {
                _waiters.Add((_published, done));
            }
        }
    }

    /// <summary>Whether the broker has confirmed every message published so far.</summary>
    public bool AllConfirmed
    {
        get
        {
            lock (_lock)
            {
                return _confirmedThrough >= _published;
            }
        }
    }

    /// <summary>The broker's <c>basic.ack</c>.</summary>
    public void Acked(ulong deliveryTag, bool multiple)
    {
        lock (_lock)
        {
            Confirm(deliveryTag, multiple);
            Release();
        }
    }

    /// <summary>The broker's <c>basic.nack</c>: it could not take the message, so every flush that waits for it fails.</summary>
    public void Nacked(ulong deliveryTag, bool multiple)
    {
        lock (_lock)
        {
            // A multiple nack refuses every number not yet confirmed up to the tag: every waiter still waiting.
            var lowestRefused = multiple ? _confirmedThrough + 1 : deliveryTag;
            _lastRefused = Math.Max(_lastRefused, deliveryTag);
            var refused = Refused(deliveryTag, multiple);
            _waiters.RemoveAll(w =>
            {
                if (w.Through < lowestRefused)
                {
                    return false;
                }
                w.Done.TrySetException(refused);
                return true;
            });
            Confirm(deliveryTag, multiple);
            Release();
        }
    }

    /// <summary>The channel is gone: what it had not confirmed may never reach the broker, so every waiter fails, now and later.</summary>
    public void Fail(Exception reason)
    {
        lock (_lock)
        {
            _failure ??= reason;
            foreach (var (_, done) in _waiters)
            {
                done.TrySetException(_failure);
            }
            _waiters.Clear();
        }
    }

    private static BackplaneUnavailableException Refused(ulong deliveryTag, bool multiple) =>
        new($"The broker refused message {deliveryTag}{(multiple ? " and those before it" : "")} (basic.nack).");

    private void Confirm(ulong deliveryTag, bool multiple)
    {
        if (multiple)
        {
            _confirmedThrough = Math.Max(_confirmedThrough, deliveryTag);
            if (_early.Count > 0)
            {
                _early.RemoveWhere(n => n <= _confirmedThrough);
            }
        }
        else if (deliveryTag > _confirmedThrough)
        {
            _early.Add(deliveryTag);
        }
        while (_early.Count > 0 && _early.Min == _confirmedThrough + 1)
        {
            _confirmedThrough++;
            _early.Remove(_confirmedThrough);
        }
    }

    private void Release()
    {
        // Waiters are added in the order published, so the ones now confirmed are a prefix.
        var confirmed = 0;
        while (confirmed < _waiters.Count && _waiters[confirmed].Through <= _confirmedThrough)
        {
            _waiters[confirmed++].Done.TrySetResult();
        }
        _waiters.RemoveRange(0, confirmed);
    }
}
