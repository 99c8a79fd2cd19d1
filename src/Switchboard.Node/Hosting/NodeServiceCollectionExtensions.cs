using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Switchboard.Node.DataPlane;
using Switchboard.Protocol;

namespace Switchboard.Node.Hosting;

/// <summary>Hosting a node in an ASP.NET Core application.</summary>
public static class NodeServiceCollectionExtensions
{
    /// <summary>
    /// Registers a node. The application registers the <see cref="Backplane.IBackplane"/> it shares with
    /// the other nodes, and maps the endpoints with <see cref="MapSwitchboardNode"/>. The node joins the
    /// cluster once the server listens and leaves it, closing its clients with 1012, when the host stops.
    /// </summary>
    public static IServiceCollection AddSwitchboardNode(this IServiceCollection services, Action<NodeOptions> configure)
    {
        var options = new NodeOptions();
        configure(options);
        options.Validate();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<NodeMetrics>();
        services.AddSingleton(options);
        services.AddSingleton<SwitchboardNode>();
        services.AddHostedService<NodeHostedService>();
        if (options.DataPlanePort is not null)
        {
            services.AddSingleton<DataPlaneBinding>();
            services.AddSingleton<DataPlaneReactor>();
            services.AddSingleton<DataPlaneAcceptor>();
            // Registered after the node's hosted service: it binds before the node starts (which advertises its port)
            // and stops accepting after the node has begun to stop.
            services.AddHostedService<DataPlaneListener>();
        }
        return services;
    }

    /// <summary>Maps <c>/v1/ws</c>, <c>/healthz</c> and <c>/readyz</c>.</summary>
    public static IEndpointRouteBuilder MapSwitchboardNode(this IEndpointRouteBuilder endpoints)
    {
        var node = endpoints.ServiceProvider.GetRequiredService<SwitchboardNode>();
        // The WebSocket middleware runs on this endpoint only, so the host's other routes stay untouched.
        var webSocketPipeline = endpoints.CreateApplicationBuilder().UseWebSockets();
        webSocketPipeline.Run(node.AcceptAsync);
        endpoints.Map(WireNames.WebSocketPath, webSocketPipeline.Build());
        endpoints.MapGet("/healthz", () => Results.Json(new HealthStatus("live"), NodeJsonContext.Default.HealthStatus));
        endpoints.MapGet("/readyz", () => node.IsReady
            ? Results.Json(new HealthStatus("ready"), NodeJsonContext.Default.HealthStatus)
            : Results.Json(new HealthStatus("not_ready"), NodeJsonContext.Default.HealthStatus, statusCode: StatusCodes.Status503ServiceUnavailable));
        return endpoints;
    }
}
