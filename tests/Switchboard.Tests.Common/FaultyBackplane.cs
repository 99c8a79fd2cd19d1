using Switchboard.Backplane;
using Switchboard.Protocol;

namespace Switchboard.Tests.Common;

/// <summary>
/// An <see cref="InMemoryBackplane"/> whose operations can be made to throw, to test how nodes live with a failing
/// backplane, or held back, to make one path slower than another.
/// </summary>
public sealed class FaultyBackplane : DelegatingBackplane
{
    private readonly Lock _heldLock = new();
    private readonly List<Func<ValueTask>> _heldSends = [];
    private readonly List<Func<ValueTask>> _heldPresence = [];
    private readonly TaskCompletionSource _unblockPresence = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _blockedPresence;

    /// <summary>Direct sends (destination node, message) it matches are held, in order, until <see cref="ReleaseSendsAsync"/>.</summary>
    public Func<string, RoutedMessage, bool>? HoldSends { get; set; }

    /// <summary>Presence publishes it matches are held, in order, until <see cref="ReleasePresenceAsync"/>.</summary>
    public Func<PresenceDelta, bool>? HoldPresence { get; set; }

    /// <summary>
    /// Presence publishes it matches do not return until <see cref="UnblockPresence"/>: unlike <see cref="HoldPresence"/>,
    /// the publisher waits with them.
    /// </summary>
    public Func<PresenceDelta, bool>? BlockPresence { get; set; }

    /// <summary>The number of presence publishes that were blocked so far.</summary>
    public int BlockedPresenceCount => Volatile.Read(ref _blockedPresence);

    /// <summary>Lets every blocked presence publish, and any later one, go on.</summary>
    public void UnblockPresence() => _unblockPresence.TrySetResult();

    /// <summary>The number of sends held now.</summary>
    public int HeldSendCount
    {
        get
        {
            lock (_heldLock)
            {
                return _heldSends.Count;
            }
        }
    }

    /// <summary>Stops holding sends and lets the held ones go, in the order they were made.</summary>
    public Task ReleaseSendsAsync() => ReleaseAsync(_heldSends, () => HoldSends = null);

    /// <summary>Stops holding presence and lets the held publishes go, in the order they were made.</summary>
    public Task ReleasePresenceAsync() => ReleaseAsync(_heldPresence, () => HoldPresence = null);

    /// <summary>When set, direct sends, group publishes and broadcasts throw.</summary>
    public volatile bool FailRouting;

    /// <summary>When set, group subscribes throw.</summary>
    public volatile bool FailSubscribe;

    /// <summary>When set, presence publishes throw.</summary>
    public volatile bool FailPresence;

    /// <inheritdoc/>
    public override ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("send")
            : HoldSends?.Invoke(nodeId, message) == true ? Hold(_heldSends, () => Inner.SendAsync(nodeId, message))
            : Inner.SendAsync(nodeId, message, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("publish") : Inner.PublishAsync(group, message, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("broadcast") : Inner.BroadcastAsync(message, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        FailRouting ? throw new BackplaneRequestException(BackplaneRequestFailure.Unavailable, "the backplane fails on purpose")
            : Inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
        FailSubscribe ? throw Broken("subscribe") : Inner.SubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public override ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default) =>
        FailPresence ? throw Broken("presence")
            : HoldPresence?.Invoke(delta) == true ? Hold(_heldPresence, () => Inner.PublishPresenceAsync(delta))
            : BlockPresence?.Invoke(delta) == true ? PublishWhenUnblockedAsync(delta)
            : Inner.PublishPresenceAsync(delta, cancellationToken);

    private async ValueTask PublishWhenUnblockedAsync(PresenceDelta delta)
    {
        Interlocked.Increment(ref _blockedPresence);
        await _unblockPresence.Task;
        await Inner.PublishPresenceAsync(delta);
    }

    private ValueTask Hold(List<Func<ValueTask>> held, Func<ValueTask> operation)
    {
        lock (_heldLock)
        {
            held.Add(operation);
        }
        return ValueTask.CompletedTask;
    }

    private async Task ReleaseAsync(List<Func<ValueTask>> held, Action stopHolding)
    {
        Func<ValueTask>[] operations;
        lock (_heldLock)
        {
            stopHolding();
            operations = [.. held];
            held.Clear();
        }
        foreach (var operation in operations)
        {
            await operation();
        }
    }

    private static IOException Broken(string operation) => new($"backplane {operation} failed (injected)");
}
