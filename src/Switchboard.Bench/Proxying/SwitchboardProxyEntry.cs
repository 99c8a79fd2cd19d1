using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Switchboard.Bench.Targets;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Proxying;

/// <summary>
/// One <c>switchboard proxy</c> process in front of the local cluster's nodes: it learns them from their heartbeats on
/// the backplane and routes each client to the node its ticket names (policy <c>ticket</c>).
/// </summary>
internal sealed partial class SwitchboardProxyEntry : IEntryPoint
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ManagedProcess _process;
    private readonly Uri _admin;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private SwitchboardProxyEntry(ManagedProcess process, Uri address, Uri admin, string name)
    {
        _process = process;
        _admin = admin;
        Address = address;
        Process = new ClusterProcess(name, process.Id, [], EntryPoint: true);
    }

    public Uri Address { get; }

    public ClusterProcess Process { get; }

    /// <summary>Starts it and returns once it takes connections for every one of the cluster's nodes.</summary>
    /// <param name="name">What the report calls it.</param>
    /// <param name="cluster">The cluster: its broker, backplane prefix and gateway.</param>
    /// <param name="mode"><c>tunnel</c> or <c>failover</c>.</param>
    /// <param name="maxConnections">Client connections at most.</param>
    /// <param name="sources">Source addresses for its upstream sockets (<c>Proxy:SourceAddresses</c>); empty for the system's choice.</param>
    /// <param name="kernelRelay">Whether it may hand established tunnels to the kernel relay (<c>--kernel-relay</c>).</param>
    /// <param name="nice">The nice value it starts with (<see cref="Niceness"/>); 0 leaves it.</param>
    /// <param name="relayPriority">Its relay threads' real-time priority (<c>--relay-priority</c>); 0 for the normal scheduler.</param>
    /// <param name="relayThreads">Its reactor threads (<c>--relay-threads</c>); 0 for the proxy's default.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<SwitchboardProxyEntry> StartAsync(string name, LocalCluster cluster, string mode, int maxConnections, IReadOnlyList<string> sources,
        bool kernelRelay, int nice, int relayPriority, int relayThreads, CancellationToken cancellationToken)
    {
        var arguments = new List<string>
        {
            "proxy", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--backplane", cluster.Broker!.ToString(), "--mode", mode,
            "--max-connections", maxConnections.ToString(CultureInfo.InvariantCulture), "--kernel-relay", kernelRelay ? "true" : "false",
        };
        // Only when asked for, so that a setting from the environment (SWITCHBOARD__Proxy__…) is not overridden by a 0.
        if (relayPriority > 0)
        {
            arguments.AddRange(["--relay-priority", relayPriority.ToString(CultureInfo.InvariantCulture)]);
        }
        if (relayThreads > 0)
        {
            arguments.AddRange(["--relay-threads", relayThreads.ToString(CultureInfo.InvariantCulture)]);
        }
        if (mode == "failover")
        {
            arguments.AddRange(["--gateway", cluster.GatewayUrl.ToString()]);
        }
        foreach (var source in sources)
        {
            arguments.AddRange(["--source", source]);
        }
        var process = ManagedProcess.Start(name, Niceness.Apply(SelfProcess.StartInfo([.. arguments]), nice), cluster.RoleEnvironment);
        SwitchboardProxyEntry? entry = null;
        try
        {
            var line = await process.WaitForLineAsync(l => l.StartsWith("proxy (", StringComparison.Ordinal) && l.Contains(" listening on ", StringComparison.Ordinal),
                StartTimeout, cancellationToken).ConfigureAwait(false);
            var listen = ListenIn().Match(line);
            var admin = AdminIn().Match(line);
            if (!listen.Success || !admin.Success)
            {
                throw new InvalidOperationException($"{name} did not say where it listens: {line}");
            }
            entry = new SwitchboardProxyEntry(process, new Uri($"ws://{listen.Groups[1].Value}"), new Uri(admin.Groups[1].Value), name);
            await entry.WaitForNodesAsync(cluster.NodeCount, cancellationToken).ConfigureAwait(false);
            return entry;
        }
        catch
        {
            if (entry is not null)
            {
                await entry.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    public IReadOnlyList<string> Warnings() =>
        _process.Lines(l => l.Contains(" warn: ", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal));

    public async Task<EntryCounts?> CountsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var text = await _http.GetStringAsync(new Uri(_admin, "/metrics"), cancellationToken).ConfigureAwait(false);
            var carriedOn = new[] { "resumed", "gap", "promoted" }.Sum(result => Metric(text, $"switchboard_proxy_failovers_total{{result=\"{result}\"}}") ?? 0);
            return Metric(text, "switchboard_proxy_connections") is { } open && Metric(text, "switchboard_proxy_accepted_total") is { } total
                ? new EntryCounts(open, total, carriedOn)
                : null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
    }

    /// <summary>Until its <c>/admin/backends</c> lists every node as up: before that, a ticket for a node it does not know yet would go elsewhere.</summary>
    private async Task WaitForNodesAsync(int nodes, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                using var json = JsonDocument.Parse(await _http.GetStringAsync(new Uri(_admin, "/admin/backends"), cancellationToken).ConfigureAwait(false));
                if (json.RootElement.GetProperty("backends").EnumerateArray().Count(b => b.GetProperty("state").GetString() == "up") >= nodes)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
            {
            }
            if (_process.HasExited || Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"{Process.Name} did not see {nodes} nodes within {StartTimeout.TotalSeconds:0} s: {_process.Tail()}");
            }
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A metric's value in Prometheus text, by its name with labels as written.</summary>
    private static long? Metric(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal) && double.TryParse(line.AsSpan(name.Length + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return (long)value;
            }
        }
        return null;
    }

    [GeneratedRegex(@" listening on (\S+?),")]
    private static partial Regex ListenIn();

    [GeneratedRegex(@"; admin (http://\S+)")]
    private static partial Regex AdminIn();
}
