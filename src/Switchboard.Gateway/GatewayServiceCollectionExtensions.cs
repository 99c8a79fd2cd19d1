using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Switchboard.Backplane;
using Switchboard.Backplane.Routing;
using Switchboard.Gateway.Admin;
using Switchboard.Gateway.Autoscale;
using Switchboard.Gateway.Connect;
using Switchboard.Gateway.Health;
using Switchboard.Gateway.Nodes;
using Switchboard.Gateway.Placement;
using Switchboard.Gateway.Publish;
using Switchboard.Gateway.Rebalance;
using Switchboard.Security.Tickets;
using Switchboard.Security.UserTokens;

namespace Switchboard.Gateway;

/// <summary>Registers the gateway's services.</summary>
public static class GatewayServiceCollectionExtensions
{
    /// <summary>
    /// Adds the gateway: options (validated when the host starts), placement, the HTTP endpoint handlers and the
    /// <see cref="SwitchboardGateway"/> hosted service. The host must register an <see cref="IBackplane"/>; a
    /// <see cref="TimeProvider"/> and a <see cref="Random"/> are added unless already registered.
    /// Map the endpoints with <see cref="GatewayEndpointRouteBuilderExtensions.MapSwitchboardGateway"/>.
    /// </summary>
    public static IServiceCollection AddSwitchboardGateway(this IServiceCollection services, Action<GatewayOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<GatewayOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Random.Shared);

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPlacementPolicy, LeastLoadedPlacementPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPlacementPolicy, LeastConnectionsPlacementPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPlacementPolicy, RoundRobinPlacementPolicy>());

        services.TryAddSingleton(sp => new SwitchboardGateway(
            sp.GetRequiredService<IBackplane>(),
            Options(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SwitchboardGateway>>()));
        services.AddHostedService(sp => sp.GetRequiredService<SwitchboardGateway>());
        services.TryAddSingleton(sp => new Rebalancer(
            sp.GetRequiredService<IBackplane>(),
            sp.GetRequiredService<SwitchboardGateway>().Cluster,
            Options(sp).Rebalance,
            Options(sp).AdminRequestTimeout,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<Rebalancer>>()));
        services.AddHostedService(sp => sp.GetRequiredService<Rebalancer>());
        services.TryAddSingleton(sp => new RebalanceEndpoint(new ApiKeyChecker(Options(sp).AdminKeys), sp.GetRequiredService<Rebalancer>()));
        services.TryAddSingleton(sp =>
        {
            var options = Options(sp);
            return new Autoscaler(
                sp.GetRequiredService<IBackplane>(),
                sp.GetRequiredService<SwitchboardGateway>().Cluster,
                options.Autoscale,
                sp.GetService<IProvisioner>() ?? CreateProvisioner(options, sp.GetRequiredService<ILoggerFactory>()),
                options.AdminRequestTimeout,
                options.HeartbeatInterval * options.MissedHeartbeatsBeforeEviction,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<Autoscaler>>());
        });
        services.AddHostedService(sp => sp.GetRequiredService<Autoscaler>());
        services.TryAddSingleton(sp => new AutoscaleEndpoint(new ApiKeyChecker(Options(sp).AdminKeys), sp.GetRequiredService<Autoscaler>()));

        services.TryAddSingleton(sp => new PlacementTracker(
            sp.GetRequiredService<SwitchboardGateway>().Cluster,
            Options(sp).PendingPlacementTimeUsed,
            Options(sp).TicketLifetime,
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp =>
        {
            var options = Options(sp);
            var policy = sp.GetServices<IPlacementPolicy>().Last(p => p.Name == options.Placement);
            return new NodePlacer(
                sp.GetRequiredService<SwitchboardGateway>().Cluster,
                sp.GetRequiredService<PlacementTracker>(),
                policy,
                new LoadScorer(options.ConnectionWeight, options.CpuWeight),
                options.HeartbeatInterval * options.MissedHeartbeatsBeforeEviction,
                sp.GetRequiredService<TimeProvider>());
        });

        services.TryAddSingleton(sp =>
        {
            var options = Options(sp);
            var tokens = options.UserTokens;
            var configured = !string.IsNullOrEmpty(tokens.Secret) || !string.IsNullOrEmpty(tokens.PublicKeyPem);
            return new UserAuthenticator(configured ? new UserTokenValidator(tokens, sp.GetRequiredService<TimeProvider>()) : null, options.DevMode);
        });
        services.TryAddSingleton(sp => new ConnectEndpoint(
            sp.GetRequiredService<UserAuthenticator>(),
            new ProxyKeyAuthenticator(new ApiKeyChecker(Options(sp).ProxyKeys)),
            sp.GetRequiredService<NodePlacer>(),
            new TicketIssuer(Options(sp).ClusterSecret!, sp.GetRequiredService<TimeProvider>()),
            Options(sp).TicketLifetime,
            sp.GetRequiredService<ILogger<ConnectEndpoint>>()));
        services.TryAddSingleton(sp => new PublishEndpoint(
            new ApiKeyChecker(Options(sp).ApiKeys),
            new ClusterRouter(sp.GetRequiredService<IBackplane>(), sp.GetRequiredService<SwitchboardGateway>().Cluster),
            Options(sp).MaxPublishBytes,
            sp.GetRequiredService<ILogger<PublishEndpoint>>()));
        services.TryAddSingleton(sp => new DrainEndpoint(
            new ApiKeyChecker(Options(sp).AdminKeys),
            sp.GetRequiredService<IBackplane>(),
            Options(sp).AdminRequestTimeout,
            sp.GetRequiredService<ILogger<DrainEndpoint>>()));
        services.TryAddSingleton(sp => new NodesEndpoint(sp.GetRequiredService<NodePlacer>()));
        services.TryAddSingleton(sp => new HealthEndpoints(sp.GetRequiredService<SwitchboardGateway>()));
        return services;
    }

    /// <summary>The built-in provisioner <c>Gateway:Autoscale:Provisioner</c> names (a registered <see cref="IProvisioner"/> wins).</summary>
    private static IProvisioner CreateProvisioner(GatewayOptions options, ILoggerFactory loggers)
    {
        var autoscale = options.Autoscale;
        var logger = loggers.CreateLogger<Autoscaler>();
        return autoscale.Provisioner switch
        {
            Provisioners.Command => new CommandProvisioner(autoscale.Command, logger),
            Provisioners.Webhook => new WebhookProvisioner(autoscale.Webhook, logger),
            // The nodes need the secret the gateway signs tickets with; default to it.
            _ => new ProcessProvisioner(autoscale.Process.ClusterSecret is null
                ? CopyWithSecret(autoscale.Process, options.ClusterSecret) : autoscale.Process, logger),
        };
    }

    private static ProcessProvisionerOptions CopyWithSecret(ProcessProvisionerOptions o, string? secret) => new()
    {
        Executable = o.Executable,
        Arguments = o.Arguments,
        NodeArguments = o.NodeArguments,
        BackplaneUrl = o.BackplaneUrl,
        ClusterSecret = secret,
        NodeIdPrefix = o.NodeIdPrefix,
    };

    private static GatewayOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<GatewayOptions>>().Value;
}
