using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Node.Connections;
using Switchboard.Protocol;

namespace Switchboard.Node.Hubs;

/// <summary>
/// Changes who is in the <see cref="Hub"/> and keeps the backplane in step: presence when a user's first
/// connection arrives or last one leaves, group subscriptions when a group's first member joins or last
/// leaves. Changes run one at a time, so a concurrent join and leave can never leave a subscription
/// behind or miss one.
/// </summary>
internal sealed class HubMembership(Hub hub, IBackplane backplane, string nodeId, long epoch, int maxGroupsPerConnection, NodeMetrics metrics, ILogger logger)
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
                // Without a backplane the connection still gets local traffic; it must not fail for that.
                await BestEffort.RunAsync(() => backplane.PublishPresenceAsync(new PresenceDelta(nodeId, epoch, [connection.UserId], []), CancellationToken.None)).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
        metrics.ConnectionOpened(nodeId);
        NodeLog.ConnectionOpened(logger, connection.Id, connection.UserId);
    }

    /// <summary>Publishes every user held here as a snapshot, in order with the deltas (it takes the same lock).</summary>
    public async Task PublishSnapshotAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await backplane.PublishPresenceAsync(new PresenceDelta(nodeId, epoch, hub.UserIds(), [], IsSnapshot: true), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
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

    /// <summary>Joins or leaves a group (both idempotent); returns the error to answer with, or null.</summary>
    public async Task<ProtocolError?> ChangeAsync(ClientConnection connection, string group, bool join)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            // A connection that is closing is already out of the hub; joining now would leak its membership.
            if (connection.ClosedBecause is not null || !hub.TryGet(connection.Id, out _))
            {
                return null;
            }
            if (join && !connection.Groups.Contains(group) && connection.Groups.Count >= maxGroupsPerConnection)
            {
                return new ProtocolError(ErrorCodes.TooManyGroups, $"a connection may be in at most {maxGroupsPerConnection} groups");
            }
            if (join && hub.Join(connection, group))
            {
                if (!await TryBackplaneAsync(() => backplane.SubscribeAsync(nodeId, group, CancellationToken.None)).ConfigureAwait(false))
                {
                    hub.Leave(connection, group);
                    return new ProtocolError(ErrorCodes.Unavailable, "the backplane is unreachable; the group was not joined");
                }
            }
            else if (!join && hub.Leave(connection, group))
            {
                // Leaving succeeds for the client either way; a subscription left behind only costs a message that finds no member.
                await BestEffort.RunAsync(() => backplane.UnsubscribeAsync(nodeId, group, CancellationToken.None)).ConfigureAwait(false);
            }
            return null;
        }
        finally
        {
            _lock.Release();
        }
    }

    private static async Task<bool> TryBackplaneAsync(Func<ValueTask> action)
    {
        try
        {
            await action().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return false;
        }
    }
}
