using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;

namespace Switchboard.Commands;

/// <summary>What <c>node</c> and <c>gateway</c> share: connect the backplane, start one role on it, run until Ctrl+C or SIGTERM, stop cleanly.</summary>
internal static class RoleCommand
{
    /// <summary>Runs one role; returns the process exit code (2 for bad input or an unreachable broker).</summary>
    public static async Task<int> RunAsync(
        Uri? brokerUrl, IConfiguration configuration, bool verbose, string clientName,
        Func<IBackplane, Action<ILoggingBuilder>, Task<WebApplication>> start, Action<WebApplication, string> announce,
        CancellationToken cancellationToken, Func<WebApplication, Task>? beforeStop = null)
    {
        var logging = Hosting.RoleHost.ConsoleLogging(verbose);
        using var loggers = LoggerFactory.Create(logging);
        IBackplane backplane;
        try
        {
            backplane = await BackplaneSetup.ConnectAsync(brokerUrl, configuration, loggers, clientName, cancellationToken);
        }
        catch (Exception e) when (e is BackplaneUnavailableException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        await using (backplane)
        {
            WebApplication app;
            try
            {
                app = await start(backplane, logging);
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException or Microsoft.Extensions.Options.OptionsValidationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            await using (app)
            {
                announce(app, BackplaneSetup.Describe(brokerUrl));
                // Ctrl+C or SIGTERM, or the role itself asking its host to stop (a node whose drain finished).
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    Console.WriteLine("Stopping…");
                }
                if (beforeStop is not null && cancellationToken.IsCancellationRequested)
                {
                    await beforeStop(app);
                }
                await app.StopAsync(CancellationToken.None);
            }
        }
        Console.WriteLine("Stopped.");
        return 0;
    }

    /// <summary>Loads the configuration and the broker URL; prints the problem and returns false when either is invalid.</summary>
    public static bool TryLoad(ParseResult parse, Option<string?> configOption, Option<string?> backplaneOption, out IConfiguration configuration, out Uri? brokerUrl)
    {
        try
        {
            configuration = CliConfiguration.Load(parse.GetValue(configOption));
            brokerUrl = BackplaneSetup.BrokerUrl(parse, backplaneOption, configuration);
            return true;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            configuration = null!;
            brokerUrl = null;
            return false;
        }
    }

    /// <summary>The cluster secret from the flag or <c>Cluster:Secret</c>; nodes and gateways must share it.</summary>
    public static string? ClusterSecret(string? flag, IConfiguration configuration) => flag ?? configuration["Cluster:Secret"];
}
