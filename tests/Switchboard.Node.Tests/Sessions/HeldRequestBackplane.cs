using Switchboard.Backplane;
using Switchboard.Protocol;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>
/// An <see cref="InMemoryBackplane"/> whose requests of one kind wait until released, to hold a session's take in
/// flight while a test does what may happen meanwhile. With <paramref name="holdAnswers"/> the request is carried out
/// at once and its answer is what waits (the session is handed over, the taker does not know it yet).
/// </summary>
internal sealed class HeldRequestBackplane(string heldKind, bool holdAnswers = false) : IBackplane
{
    private readonly InMemoryBackplane _inner = new();
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;

    /// <summary>Requests of the held kind made (or, holding answers, answered) so far; each waits for <see cref="Release"/>.</summary>
    public int HeldCount => Volatile.Read(ref _held);

    /// <summary>Lets every held request, and any later one, go on.</summary>
    public void Release() => _released.TrySetResult();

    /// <inheritdoc/>
    public async ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (kind != heldKind)
        {
            return await _inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
        }
        if (holdAnswers)
        {
            var answer = await _inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
            Interlocked.Increment(ref _held);
            await _released.Task.WaitAsync(cancellationToken);
            return answer;
        }
        Interlocked.Increment(ref _held);
        await _released.Task.WaitAsync(cancellationToken);
        return await _inner.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
    }

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
    public ValueTask SendAsync(string nodeId, RoutedMessage message, CancellationToken cancellationToken = default) => _inner.SendAsync(nodeId, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishAsync(string group, RoutedMessage message, CancellationToken cancellationToken = default) => _inner.PublishAsync(group, message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask BroadcastAsync(RoutedMessage message, CancellationToken cancellationToken = default) => _inner.BroadcastAsync(message, cancellationToken);

    /// <inheritdoc/>
    public ValueTask SubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) => _inner.SubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public ValueTask UnsubscribeAsync(string nodeId, string group, CancellationToken cancellationToken = default) => _inner.UnsubscribeAsync(nodeId, group, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishHeartbeatAsync(NodeHeartbeat heartbeat, CancellationToken cancellationToken = default) => _inner.PublishHeartbeatAsync(heartbeat, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishPresenceAsync(PresenceDelta delta, CancellationToken cancellationToken = default) => _inner.PublishPresenceAsync(delta, cancellationToken);

    /// <inheritdoc/>
    public ValueTask PublishNodeLeftAsync(string nodeId, long epoch, CancellationToken cancellationToken = default) => _inner.PublishNodeLeftAsync(nodeId, epoch, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<ILeadership> ElectAsync(string role, CancellationToken cancellationToken = default) => _inner.ElectAsync(role, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Release();
        return _inner.DisposeAsync();
    }
}
