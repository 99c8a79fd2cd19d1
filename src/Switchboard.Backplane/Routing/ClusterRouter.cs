using Switchboard.Backplane.Cluster;
using Switchboard.Protocol;

namespace Switchboard.Backplane.Routing;

/// <summary>
/// Sends a message to the other nodes that hold its recipients: one backplane frame per holding node
/// for a user or connection, one group publish for a group, one broadcast for <c>all</c>.
/// Local delivery is the caller's job; the message's <see cref="RoutedMessage.OriginNodeId"/> is skipped.
/// </summary>
public sealed class ClusterRouter(IBackplane backplane, ClusterView view)
{
    /// <summary>
    /// The node id inside a connection id. Connection ids are <c>&lt;nodeId&gt;.&lt;random&gt;</c>, so a
    /// message to a connection goes straight to its node without a directory lookup.
    /// </summary>
    public static string? NodeOfConnection(string connectionId)
    {
        var dot = connectionId.LastIndexOf('.');
        return dot > 0 ? connectionId[..dot] : null;
    }

    /// <summary>Routes to every node other than the origin that holds a recipient.</summary>
    public async ValueTask RouteAsync(RoutedMessage message, CancellationToken cancellationToken = default)
    {
        switch (message.Target.Kind)
        {
            case TargetKind.User:
                foreach (var nodeId in view.Directory.GetNodes(message.Target.Name))
                {
                    if (nodeId != message.OriginNodeId)
                    {
                        await backplane.SendAsync(nodeId, message, cancellationToken).ConfigureAwait(false);
                    }
                }
                break;
            case TargetKind.Connection:
                if (NodeOfConnection(message.Target.Name) is { } node && node != message.OriginNodeId)
                {
                    await backplane.SendAsync(node, message, cancellationToken).ConfigureAwait(false);
                }
                break;
            case TargetKind.Group:
                await backplane.PublishAsync(message.Target.Name, message, cancellationToken).ConfigureAwait(false);
                break;
            case TargetKind.All:
                await backplane.BroadcastAsync(message, cancellationToken).ConfigureAwait(false);
                break;
        }
    }
}
