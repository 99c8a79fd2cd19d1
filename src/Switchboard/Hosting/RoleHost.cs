using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Gateway;
using Switchboard.Node;
using Switchboard.Node.Hosting;

namespace Switchboard.Hosting;

/// <summary>Where and how one role's Kestrel server runs.</summary>
/// <param name="Host">The address to listen on.</param>
/// <param name="Port">The port; 0 lets the system pick one.</param>
/// <param name="ConfigureLogging">Logging; warnings and errors to the console when null.</param>
public sealed record RoleHostOptions(string Host, int Port, Action<ILoggingBuilder>? ConfigureLogging = null);

/// <summary>Starts one role (a node or a gateway) as its own Kestrel server on a given backplane: the building block of <c>up</c>, <c>node</c> and <c>gateway</c>.</summary>
public static class RoleHost
{
    /// <summary>Starts a node and returns once it listens and has joined the backplane.</summary>
    /// <exception cref="IOException">The port is in use (the message names it).</exception>
    public static async Task<WebApplication> StartNodeAsync(RoleHostOptions host, IBackplane backplane, Action<NodeOptions> configure, CancellationToken cancellationToken = default)
    {
        var builder = CreateBuilder(host);
        builder.Services.AddSingleton(backplane);
        builder.Services.AddSwitchboardNode(configure);
        var app = builder.Build();
        app.MapSwitchboardNode();
        await StartListeningAsync(app, host, cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>Starts a gateway and returns once it listens and observes the backplane.</summary>
    /// <exception cref="IOException">The port is in use (the message names it).</exception>
    public static async Task<WebApplication> StartGatewayAsync(RoleHostOptions host, IBackplane backplane, Action<GatewayOptions> configure, CancellationToken cancellationToken = default)
    {
        var builder = CreateBuilder(host);
        builder.Services.AddSingleton(backplane);
        builder.Services.AddSwitchboardGateway(configure);
        var app = builder.Build();
        app.MapSwitchboardGateway();
        await StartListeningAsync(app, host, cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>Creates the console logging every role uses: one line per event, warnings only unless verbose.</summary>
    public static Action<ILoggingBuilder> ConsoleLogging(bool verbose) => logging => logging
        .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
        .SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);

    private static WebApplicationBuilder CreateBuilder(RoleHostOptions host)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton<IHostLifetime, CommandLineLifetime>();
        builder.Logging.ClearProviders();
        (host.ConfigureLogging ?? ConsoleLogging(verbose: false))(builder.Logging);
        // With request logging on, the host keeps an Activity and a log scope alive for every request, and a
        // WebSocket request lasts as long as its connection; per-request logs say nothing useful for a node anyway.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Parse(host.Host), host.Port));
        // Each role's own URL is set in code; ASPNETCORE_URLS must not override it.
        builder.WebHost.UseUrls();
        return builder;
    }

    private static async Task StartListeningAsync(WebApplication app, RoleHostOptions host, CancellationToken cancellationToken)
    {
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            if (e is IOException && (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase)))
            {
                throw new IOException($"Port {host.Port} on {host.Host} is already in use; choose another with --port.", e);
            }
            throw;
        }
    }
}
