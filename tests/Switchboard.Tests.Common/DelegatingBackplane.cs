using Switchboard.Backplane;
using Switchboard.Protocol;

namespace Switchboard.Tests.Common;

/// <summary>
/// An <see cref="InMemoryBackplane"/> behind overridable members, for test backplanes that change a few operations
/// (fail, hold) and pass the rest on.
/// </summary>
public abstract class DelegatingBackplane : IBackplane
{
    /// <summary>The backplane every operation not overridden goes to.</summary>
    protected InMemoryBackplane Inner { get; } = new();

    /// <inheritdoc/>
    public long UnroutableCount => Inner.UnroutableCount;

    /// <inheritdoc/>
    public event Action? AnnounceRequested
    {
        add => Inner.AnnounceRequested += value;
        remove => Inner.AnnounceRequested -= value;
    }

    /// <inheritdoc/>
    public virtual ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default) => Inner.JoinAsync(nodeId, inbox, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default) => Inner.ObserveAsync(observer, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default) => Inner.SendAsync(nodeId, message, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default) => Inner.PublishAsync(group, message, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default) => Inner.BroadcastAsync(message, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) => Inner.SubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) => Inner.UnsubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default) => Inner.PublishHeartbeatAsync(heartbeat, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default) => Inner.PublishPresenceAsync(delta, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default) => Inner.PublishNodeLeftAsync(nodeId, epoch, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default) => Inner.ElectAsync(role, cancellationToken);

    /// <inheritdoc/>
    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
