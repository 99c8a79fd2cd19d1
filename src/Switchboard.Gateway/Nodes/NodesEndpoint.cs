using Microsoft.AspNetCore.Http;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Placement;

namespace Switchboard.Gateway.Nodes;

/// <summary><c>GET /v1/nodes</c>: every live node's latest heartbeat with this gateway's pending placements and score.</summary>
internal sealed class NodesEndpoint(NodePlacer placer)
{
    public Task HandleAsync(HttpContext context)
    {
        var nodes = placer.Snapshot()
            .Select(n => new NodeInfo(
                n.NodeId,
                n.Heartbeat.Url,
                n.Heartbeat.Connections,
                n.Heartbeat.Capacity,
                n.Heartbeat.Cpu,
                n.Heartbeat.MessagesPerSecond,
                n.Heartbeat.Draining,
                n.Heartbeat.Epoch,
                n.Heartbeat.Version,
                n.Heartbeat.SentAt,
                n.PendingPlacements,
                n.Score))
            .ToArray();
        return HttpAnswers.JsonAsync(context, StatusCodes.Status200OK, new NodesResponse(nodes), GatewayJsonContext.Default.NodesResponse);
    }
}
