using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Switchboard.Node.DataPlane;
using Switchboard.Protocol;

namespace Switchboard.Node.Hosting;

/// <summary>Starts the node after the server listens (its URL is known only then) and stops it before the server does.</summary>
internal sealed class NodeHostedService(SwitchboardNode node, IServer server, IServiceProvider services, IHostApplicationLifetime lifetime) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        // A drained node has nothing left to serve: its host stops with it (a drain asked over the admin API included).
        node.Drained += lifetime.StopApplication;
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => node.StartAsync(PublicUrl(), cancellationToken);

    public Task StoppingAsync(CancellationToken cancellationToken) => node.StopAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private string PublicUrl()
    {
        // Clients are sent to the lean listener when there is one; the HTTP port keeps serving /v1/ws too.
        if (services.GetService(typeof(DataPlaneBinding)) is DataPlaneBinding { Url: { } dataPlane })
        {
            return dataPlane;
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("The node's server has no address; set Node:PublicUrl.");
        var uri = new UriBuilder(address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://[::]", "://localhost"));
        uri.Scheme = uri.Scheme == "https" ? "wss" : "ws";
        uri.Path = WireNames.WebSocketPath;
        return uri.Uri.ToString();
    }
}
