using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Gateway.Admin;
using Switchboard.Gateway.Autoscale;
using Switchboard.Gateway.Connect;
using Switchboard.Gateway.Health;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Nodes;
using Switchboard.Gateway.Publish;
using Switchboard.Gateway.Rebalance;

namespace Switchboard.Gateway;

/// <summary>Maps the gateway's HTTP API.</summary>
public static class GatewayEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>POST|GET /v1/connect</c>, <c>POST /v1/publish</c>, <c>POST /v1/admin/nodes/{id}/drain</c>, <c>GET /v1/nodes</c>, <c>GET /v1/autoscale</c>,
    /// <c>GET /v1/rebalance</c>, <c>GET /healthz</c> and <c>GET /readyz</c>. Requires <see cref="GatewayServiceCollectionExtensions.AddSwitchboardGateway"/>.
    /// </summary>
    /// <returns>The group of the mapped endpoints, to add conventions (authorization, rate limiting…) to.</returns>
    public static RouteGroupBuilder MapSwitchboardGateway(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup(string.Empty);
        // Handlers are resolved per request (singletons, so a dictionary lookup) rather than here, so invalid
        // options surface from the host's start-up validation and not from mapping.
        group.MapMethods(GatewayRoutes.Connect, [HttpMethods.Post, HttpMethods.Get],
            context => context.RequestServices.GetRequiredService<ConnectEndpoint>().HandleAsync(context));
        group.MapPost(GatewayRoutes.Publish,
            context => context.RequestServices.GetRequiredService<PublishEndpoint>().HandleAsync(context));
        group.MapPost(GatewayRoutes.DrainNode,
            context => context.RequestServices.GetRequiredService<DrainEndpoint>().HandleAsync(context));
        group.MapGet(GatewayRoutes.Nodes,
            context => context.RequestServices.GetRequiredService<NodesEndpoint>().HandleAsync(context));
        group.MapGet(GatewayRoutes.Autoscale,
            context => context.RequestServices.GetRequiredService<AutoscaleEndpoint>().HandleAsync(context));
        group.MapGet(GatewayRoutes.Rebalance,
            context => context.RequestServices.GetRequiredService<RebalanceEndpoint>().HandleAsync(context));
        group.MapGet(GatewayRoutes.Health, HealthEndpoints.LiveAsync);
        group.MapGet(GatewayRoutes.Ready,
            context => context.RequestServices.GetRequiredService<HealthEndpoints>().ReadyAsync(context));
        return group;
    }
}
