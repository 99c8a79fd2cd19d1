using Switchboard.Backplane;
using Switchboard.Protocol;

namespace Switchboard.Tests.Common;

/// <summary>An <see cref="InMemoryBackplane"/> whose operations can be made to throw, to test how nodes live with a failing backplane.</summary>
public sealed class FaultyBackplane : IBackplane
{
    private readonly InMemoryBackplane _inner = new();

    /// <summary>When set, direct sends, group publishes and broadcasts throw.</summary>
    public volatile bool FailRouting;

    /// <summary>When set, group subscribes throw.</summary>
    public volatile bool FailSubscribe;

    /// <summary>When set, presence publishes throw.</summary>
    public volatile bool FailPresence;

    /// <inheritdoc/>
    public long UnroutableCount => _inner.UnroutableCount;

    /// <inheritdoc/>
    public event Action? AnnounceRequested
    {
        add => _inner.AnnounceRequested += value;
        remove => _inner.AnnounceRequested -= value;
    }

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> JoinAsync(string nodeId, INodeInbox inbox, CancellationToken cancellationToken = default) => _inner.JoinAsync(nodeId, inbox, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> ObserveAsync(IClusterObserver observer, CancellationToken cancellationToken = default) => _inner.ObserveAsync(observer, cancellationToken);

    /// <inheritdoc/>
    public ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("send") : _inner.SendAsync(nodeId, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("publish") : _inner.PublishAsync(group, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default) =>
        FailRouting ? throw Broken("broadcast") : _inner.BroadcastAsync(message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        FailRouting ? throw new BackplaneRequestException(BackplaneRequestFailure.Unavailable, "the backplane fails on purpose")
            : _inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default) => _inner.ElectAsync(role, cancellationToken);

    /// <inheritdoc/>
    public ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) =>
        FailSubscribe ? throw Broken("subscribe") : _inner.SubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) => _inner.UnsubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default) => _inner.PublishHeartbeatAsync(heartbeat, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default) =>
        FailPresence ? throw Broken("presence") : _inner.PublishPresenceAsync(delta, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default) => _inner.PublishNodeLeftAsync(nodeId, epoch, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    private static IOException Broken(string operation) => new($"backplane {operation} failed (injected)");
}
