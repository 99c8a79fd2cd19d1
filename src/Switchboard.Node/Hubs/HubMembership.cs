using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Node.Connections;

namespace Switchboard.Node.Hubs;

/// <summary>
/// Changes who is in the <see cref="Hub"/> and keeps the backplane in step: presence when a user's first
/// connection arrives or last one leaves, group subscriptions when a group's first member joins or last
/// leaves. Changes run one at a time, so a concurrent join and leave can never leave a subscription
/// behind or miss one.
/// </summary>
internal sealed class HubMembership(Hub hub, IBackplane backplane, string nodeId, long epoch, NodeMetrics metrics, ILogger logger)
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task AddAsync(ClientConnection connection)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (hub.Add(connection))
            {
                // Published before the welcome leaves, so a peer's message sent right after the welcome finds this user.
                await backplane.PublishPresenceAsync(new PresenceDelta(nodeId, epoch, [connection.UserId], []), CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
        metrics.ConnectionOpened(nodeId);
        NodeLog.ConnectionOpened(logger, connection.Id, connection.UserId);
    }

    public async Task RemoveAsync(ClientConnection connection, CloseReason reason)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var (removed, lastOfUser, emptiedGroups) = hub.Remove(connection);
            if (!removed)
            {
                return;
            }
            metrics.ConnectionClosed(nodeId, reason);
            NodeLog.ConnectionClosed(logger, connection.Id, reason);
            foreach (var group in emptiedGroups)
            {
                await BestEffort.RunAsync(() => backplane.UnsubscribeAsync(nodeId, group, CancellationToken.None)).ConfigureAwait(false);
            }
            if (lastOfUser)
            {
                await BestEffort.RunAsync(() => backplane.PublishPresenceAsync(new PresenceDelta(nodeId, epoch, [], [connection.UserId]), CancellationToken.None)).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public Task JoinAsync(ClientConnection connection, string group) => ChangeAsync(connection, group, join: true);

    public Task LeaveAsync(ClientConnection connection, string group) => ChangeAsync(connection, group, join: false);

    private async Task ChangeAsync(ClientConnection connection, string group, bool join)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            // A connection that is closing is already out of the hub; joining now would leak its membership.
            if (connection.ClosedBecause is not null || !hub.TryGet(connection.Id, out _))
            {
                return;
            }
            if (join && hub.Join(connection, group))
            {
                await backplane.SubscribeAsync(nodeId, group, CancellationToken.None).ConfigureAwait(false);
            }
            else if (!join && hub.Leave(connection, group))
            {
                await backplane.UnsubscribeAsync(nodeId, group, CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
    }
}
