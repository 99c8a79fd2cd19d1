using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Switchboard.Backplane;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Policies;

namespace Switchboard.Commands;

/// <summary>
/// <c>switchboard proxy</c>: one address in front of a farm of WebSocket servers (static <c>--backend</c>s) or of
/// the cluster's nodes (<c>--backplane</c>). The configuration file is watched, and SIGHUP reloads it too; a reload
/// never drops established connections.
/// </summary>
internal static class ProxyCommand
{
    public static Command Create(Option<string?> configOption)
    {
        var listen = new Option<string?>("--listen") { Description = "Client-facing address IP:PORT (default: Proxy:Listen, else 127.0.0.1:8080)" };
        var backend = new Option<string[]>("--backend") { Description = "A backend ws://host:port[/path][,weight=N] (repeatable; replaces Proxy:Backends)", AllowMultipleArgumentsPerToken = false };
        var mode = new Option<string?>("--mode") { Description = "tunnel (relay the upgrade, then bytes), tcp (L4, no HTTP) or failover (terminate WebSocket, resume sessions on another node; needs --gateway)" };
        var gatewayUrl = new Option<string?>("--gateway") { Description = "The gateway's URL, where failover mode asks for resume tickets" };
        var gatewayKey = new Option<string?>("--gateway-key") { Description = "Failover mode: the proxy's key with the gateway, one of its Gateway:ProxyKeys (default: Proxy:GatewayKey; without: dev-mode gateways only)" };
        var policy = new Option<string?>("--policy") { Description = $"Balancing policy: {string.Join(", ", BalancingPolicies.All)}" };
        var hashOn = new Option<string?>("--hash-on") { Description = "Key of source-hash / consistent-hash: ip, ip:port, header:NAME, query:NAME or cookie:NAME" };
        var admin = new Option<string?>("--admin") { Description = "Admin address IP:PORT for /metrics, /healthz, /readyz and /admin/backends" };
        var source = new Option<string[]>("--source") { Description = "Local source addresses for upstream connections: 127.0.0.2-127.0.0.9 or a list (repeatable)", AllowMultipleArgumentsPerToken = false };
        var healthPath = new Option<string?>("--health-path") { Description = "Active health check: GET this path on every backend (default: off)" };
        var maxConnections = new Option<int?>("--max-connections") { Description = "Open client connections at most" };
        var acceptRate = new Option<double?>("--accept-rate") { Description = "New connections per second at most (0: no limit)" };
        var idleTimeout = new Option<TimeSpan?>("--idle-timeout") { Description = "Close a connection that moves no byte for this long, e.g. 00:05:00 (0: never)" };
        var handshakeTimeout = new Option<TimeSpan?>("--handshake-timeout") { Description = "The whole upgrade must complete within this, e.g. 00:00:10" };
        var backplane = BackplaneSetup.CreateOption();
        var relayPriority = new Option<int?>("--relay-priority") { Description = "1-99: relay tunnels on threads under the real-time FIFO scheduler at that priority, one unless --relay-threads says more (needs root or CAP_SYS_NICE); 0 (default): the normal scheduler" };
        var relayThreads = new Option<int?>("--relay-threads") { Description = "Tunnel and tcp mode: reactor threads that relay tunnels, each connection on the least busy one; 0 (default): one per processor (one with --relay-priority)" };
        var kernelRelay = new Option<bool?>("--kernel-relay") { Description = "true or false (default): let the Linux kernel relay established tunnels (eBPF sockmap) instead of the proxy's reactor threads" };
        var verbose = new Option<bool>("--verbose") { Description = "Log lifecycle events, not only warnings" };
        var command = new Command("proxy", "Run a WebSocket-aware load balancer in front of nodes or any WebSocket servers")
        {
            listen, backend, mode, gatewayUrl, gatewayKey, policy, hashOn, admin, source, healthPath, maxConnections, acceptRate, idleTimeout, handshakeTimeout, kernelRelay, relayPriority, relayThreads, backplane, verbose,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            IConfigurationRoot configuration;
            Uri? brokerUrl;
            try
            {
                configuration = LoadWatched(parse.GetValue(configOption));
                brokerUrl = BackplaneSetup.BrokerUrl(parse, backplane, configuration);
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            ProxyOptions Build()
            {
                var o = new ProxyOptions();
                configuration.GetSection(ProxyOptions.SectionName).Bind(o);
                o.Listen = parse.GetValue(listen) ?? o.Listen;
                o.Mode = parse.GetValue(mode) ?? o.Mode;
                o.Gateway = parse.GetValue(gatewayUrl) ?? o.Gateway;
                o.GatewayKey = parse.GetValue(gatewayKey) ?? o.GatewayKey;
                o.Policy = parse.GetValue(policy) ?? o.Policy;
                o.HashOn = parse.GetValue(hashOn) ?? o.HashOn;
                o.Admin = parse.GetValue(admin) ?? o.Admin;
                o.HealthCheck.Path = parse.GetValue(healthPath) ?? o.HealthCheck.Path;
                o.MaxConnections = parse.GetValue(maxConnections) ?? o.MaxConnections;
                o.AcceptRatePerSecond = parse.GetValue(acceptRate) ?? o.AcceptRatePerSecond;
                o.IdleTimeout = parse.GetValue(idleTimeout) ?? o.IdleTimeout;
                o.KernelRelay = parse.GetValue(kernelRelay) ?? o.KernelRelay;
                o.RelayPriority = parse.GetValue(relayPriority) ?? o.RelayPriority;
                o.RelayThreads = parse.GetValue(relayThreads) ?? o.RelayThreads;
                o.HandshakeTimeout = parse.GetValue(handshakeTimeout) ?? o.HandshakeTimeout;
                if (parse.GetValue(backend) is { Length: > 0 } backends)
                {
                    o.Backends = [.. backends];
                }
                if (parse.GetValue(source) is { Length: > 0 } sources)
                {
                    o.SourceAddresses = [.. sources];
                }
                return o;
            }

            var logging = Hosting.RoleHost.ConsoleLogging(parse.GetValue(verbose));
            using var loggers = LoggerFactory.Create(logging);
            IBackplane? bus = null;
            if (brokerUrl is not null)
            {
                try
                {
                    bus = await BackplaneSetup.ConnectAsync(brokerUrl, configuration, loggers, "switchboard proxy", cancellationToken);
                }
                catch (Exception e) when (e is BackplaneUnavailableException or ArgumentException)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 2;
                }
            }
            try
            {
                ProxyServer proxy;
                try
                {
                    proxy = await ProxyServer.StartAsync(Build(), bus, loggers, cancellationToken: cancellationToken);
                }
                catch (Exception e) when (e is ArgumentException or IOException)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 2;
                }
                await using (proxy)
                {
                    void Reload(string why)
                    {
                        try
                        {
                            proxy.Reload(Build());
                            Console.WriteLine($"configuration reloaded ({why}): policy {proxy.Policy}, {proxy.Backends.Count} backends");
                        }
                        catch (ArgumentException e)
                        {
                            Console.Error.WriteLine($"warning: reload ({why}) refused, the running configuration stays: {e.Message}");
                        }
                    }
                    using var fileWatch = ChangeToken.OnChange(configuration.GetReloadToken, () => Reload("file changed"));
                    using var hangup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
                    {
                        context.Cancel = true; // SIGHUP reloads; it does not stop the proxy
                        configuration.Reload();
                        Reload("SIGHUP");
                    });
                    var sources = brokerUrl is null ? "" : $" + nodes on the {BackplaneSetup.Describe(brokerUrl)}";
                    var adminText = proxy.AdminEndPoint is { } a ? $"; admin http://{a} (/metrics, /healthz, /readyz, /admin/backends)" : "";
                    var threads = proxy.RelayThreadCount > 0 ? $", {proxy.RelayThreadCount} relay threads" : "";
                    Console.WriteLine($"proxy ({proxy.Mode}, {proxy.Policy}) listening on {proxy.ListenEndPoint}, {proxy.Backends.Count} backends{threads}{sources}{adminText}. Ctrl+C stops it.");
                    try
                    {
                        await Task.Delay(Timeout.Infinite, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        Console.WriteLine("Stopping…");
                    }
                }
            }
            finally
            {
                if (bus is not null)
                {
                    await bus.DisposeAsync();
                }
            }
            Console.WriteLine("Stopped.");
            return 0;
        });
        return command;
    }

    /// <summary>The same stack as <see cref="CliConfiguration.Load"/>, with the JSON file watched for changes.</summary>
    private static IConfigurationRoot LoadWatched(string? configFile)
    {
        var builder = new ConfigurationBuilder().SetBasePath(Directory.GetCurrentDirectory());
        if (configFile is null)
        {
            builder.AddJsonFile("appsettings.json", optional: true, reloadOnChange: true);
        }
        else
        {
            if (!File.Exists(configFile))
            {
                throw new ArgumentException($"--config {configFile}: no such file.");
            }
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: true);
        }
        return builder.AddEnvironmentVariables("SWITCHBOARD__").Build();
    }
}
