using System.CommandLine;
using System.Globalization;
using System.Net;
using Spectre.Console;
using Switchboard.Bench;
using Switchboard.Bench.Proxying;
using Switchboard.Bench.Reporting;
using Switchboard.Bench.Targets;
using Switchboard.Bench.Workers;

namespace Switchboard.Commands;

/// <summary>
/// <c>switchboard bench</c>: the load generator and report. Also the two hidden commands it starts as child processes:
/// <c>bench-worker</c> (a share of the clients) and <c>bench-echo</c> (the Kestrel baseline).
/// </summary>
internal static class BenchCommand
{
    public static IEnumerable<Command> Create()
    {
        yield return CreateBench();
        yield return CreateWorker();
        yield return CreateEcho();
    }

    private static Command CreateBench()
    {
        var scenario = new Option<string>("--scenario") { Description = $"What to measure: {string.Join(", ", BenchScenarios.All)}", Required = true };
        var gateway = new Option<string?>("--gateway") { Description = "A gateway URL: each client negotiates, as real clients do" };
        var node = new Option<string?>("--node") { Description = "A node's ws:// URL: clients connect straight to it (with --secret and --node-id)" };
        var nodeId = new Option<string>("--node-id") { Description = "The id of the --node (tickets name it)", DefaultValueFactory = _ => "node-1" };
        var secret = new Option<string?>("--secret") { Description = "The cluster secret, to sign tickets for --node" };
        var adminKey = new Option<string?>("--admin-key") { Description = "An admin key of the --gateway (X-Admin-Key), for --scenario drain" };
        var cluster = new Option<string?>("--cluster") { Description = "local:N — start N nodes and a gateway for the run, and stop them afterwards" };
        var backplane = new Option<string>("--backplane") { Description = "Backplane of --cluster: memory (one process), rabbitmq (a private broker, a process per role) or amqp://…", DefaultValueFactory = _ => "memory" };
        var noDataPlane = new Option<bool>("--no-data-plane") { Description = "Local nodes take WebSockets through Kestrel instead of their lean data-plane listener" };
        var clients = new Option<int>("--clients") { Description = "Connections (fanout: group members, plus one publisher)", DefaultValueFactory = _ => 1000 };
        var duration = new Option<string>("--duration") { Description = "How long connections are held or traffic runs: 30s, 2m, 500ms", DefaultValueFactory = _ => "10s" };
        var rate = new Option<double>("--rate") { Description = "Messages per second offered in all (0: flat out)" };
        var warmUp = new Option<string>("--warmup") { Description = "JIT warm-up before the measured window: traffic, or for connect connections opened and closed again (default 2s; connect 10s; 0s: none)" };
        var window = new Option<int>("--window") { Description = "Flat out (--rate 0): most messages in flight per worker (0: open loop)", DefaultValueFactory = _ => 2000 };
        var size = new Option<int>("--size") { Description = "Padding added to each message, in bytes" };
        var workers = new Option<int?>("--workers") { Description = "Worker processes for the clients (0: in this process; default: one per --clients-per-worker)" };
        var perWorker = new Option<int>("--clients-per-worker") { Description = "Most clients per worker process (< 20,000 open files each)", DefaultValueFactory = _ => 15_000 };
        var concurrency = new Option<int>("--concurrency") { Description = "Connection attempts in flight per worker", DefaultValueFactory = _ => 64 };
        var source = new Option<string>("--source") { Description = "Source addresses, one per worker in turn: a range 127.0.1.1-127.0.1.254, a comma list, or none", DefaultValueFactory = _ => "127.0.1.1-127.0.1.254" };
        var baseline = new Option<string?>("--baseline") { Description = "kestrel: the same scenario against a bare Kestrel WebSocket server, side by side; node:Key=Value or backplane:Key=Value: against a second local cluster with that setting changed" };
        var output = new Option<string?>("--out") { Description = "Folder for the JSON and Markdown reports" };
        var maxConnections = new Option<int>("--max-connections") { Description = "Connection cap of each local node", DefaultValueFactory = _ => 19_000 };
        var nodeSetting = new Option<string[]>("--node-setting") { Description = "A Node setting for local nodes, Key=Value (repeatable), e.g. RateLimitPerSecond=0" };
        var backplaneSetting = new Option<string[]>("--backplane-setting") { Description = "A Backplane setting for local roles, Key=Value (repeatable), e.g. Coalescing=false" };
        var proxy = new Option<bool>("--proxy") { Description = "With --cluster local:N over RabbitMQ: the same scenario straight at the nodes, through switchboard proxy processes, and through HAProxy (when installed), side by side" };
        var proxyMode = new Option<string>("--proxy-mode") { Description = "Mode of the switchboard proxy processes: tunnel or failover", DefaultValueFactory = _ => "tunnel" };
        var proxyPaths = new Option<string>("--proxy-paths") { Description = $"Which paths --proxy takes, a comma list of {string.Join(", ", ProxyPaths.Known)} (default {string.Join(",", ProxyPaths.All)})", DefaultValueFactory = _ => string.Join(',', ProxyPaths.All) };
        var proxyProcesses = new Option<int>("--proxy-processes") { Description = $"Proxy processes per proxied path, clients spread over them (0: one per 9,000 connections; each holds {ProxyPaths.ConnectionsPerProcess:#,0} at most)" };
        var rounds = new Option<int>("--rounds") { Description = "With --proxy: take the paths N times (1 to 20), in alternating order, and report medians over the rounds and the median of each ratio within a round (a noisy machine moves one run's ratios a lot)", DefaultValueFactory = _ => 1 };
        var proxyRelayPriority = new Option<int>("--proxy-relay-priority") { Description = "Real-time priority (1-99) of the relay threads of our proxy processes (Proxy:RelayPriority; needs root); 0: the normal scheduler" };
        var proxyRelayThreads = new Option<int>("--proxy-relay-threads") { Description = "Reactor threads of our proxy processes (Proxy:RelayThreads, 1-256); 0: the proxy's default, one per processor (one with --proxy-relay-priority)" };
        var interleave = new Option<bool>("--interleave") { Description = "With --proxy and --scenario direct: take the paths at the same time on one cluster, each worker process on one path, so that every path meets the same machine at the same moment" };
        var proxyNice = new Option<int>("--proxy-nice") { Description = "Nice value the proxy processes (switchboard proxy and HAProxy alike) start with, -20..19; negative needs root" };
        var proxySources = new Option<string>("--proxy-sources") { Description = "Source addresses of the proxies' upstream sockets: a range 127.0.2.1-127.0.2.8, a comma list, or none", DefaultValueFactory = _ => "none" };
        var command = new Command("bench", "Measure Switchboard: idle, connect, direct and fanout scenarios, with an optional Kestrel baseline or proxies in front")
        {
            scenario, gateway, node, nodeId, secret, adminKey, cluster, backplane, noDataPlane, clients, duration, warmUp, rate, window, size, workers, perWorker,
            concurrency, source, baseline, output, maxConnections, nodeSetting, backplaneSetting, proxy, proxyMode, proxyPaths, proxyProcesses, proxySources, proxyNice, proxyRelayPriority, proxyRelayThreads, interleave, rounds,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            BenchOptions options;
            try
            {
                options = new BenchOptions
                {
                    Scenario = parse.GetValue(scenario)!,
                    Gateway = Url(parse.GetValue(gateway), "--gateway", "http", "https"),
                    Node = Url(parse.GetValue(node), "--node", "ws", "wss"),
                    NodeId = parse.GetValue(nodeId)!,
                    Secret = parse.GetValue(secret),
                    AdminKey = parse.GetValue(adminKey),
                    LocalNodes = LocalNodes(parse.GetValue(cluster)),
                    Backplane = parse.GetValue(backplane)!,
                    DataPlane = !parse.GetValue(noDataPlane),
                    Clients = parse.GetValue(clients),
                    Duration = Duration(parse.GetValue(duration)!),
                    Rate = parse.GetValue(rate),
                    Window = parse.GetValue(window),
                    PayloadBytes = parse.GetValue(size),
                    Workers = parse.GetValue(workers),
                    ClientsPerWorker = parse.GetValue(perWorker),
                    Concurrency = parse.GetValue(concurrency),
                    SourceAddresses = Addresses(parse.GetValue(source)!, "--source"),
                    Baseline = parse.GetValue(baseline),
                    Out = parse.GetValue(output),
                    MaxConnectionsPerNode = parse.GetValue(maxConnections),
                    NodeSettings = parse.GetValue(nodeSetting) ?? [],
                    BackplaneSettings = parse.GetValue(backplaneSetting) ?? [],
                    Proxy = parse.GetValue(proxy),
                    ProxyMode = parse.GetValue(proxyMode)!,
                    ProxyPathNames = [.. parse.GetValue(proxyPaths)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
                    ProxyProcesses = parse.GetValue(proxyProcesses),
                    ProxySources = Addresses(parse.GetValue(proxySources)!, "--proxy-sources"),
                    ProxyNice = parse.GetValue(proxyNice),
                    Rounds = parse.GetValue(rounds),
                    Interleave = parse.GetValue(interleave),
                    ProxyRelayPriority = parse.GetValue(proxyRelayPriority),
                    ProxyRelayThreads = parse.GetValue(proxyRelayThreads),
                    Command = "switchboard " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                };
                if (parse.GetValue(warmUp) is { } givenWarmUp)
                {
                    options = options with { WarmUp = givenWarmUp is "0" or "0s" ? TimeSpan.Zero : Duration(givenWarmUp) };
                }
                if (options.Backplane is not ("memory" or "rabbitmq") && !options.Backplane.StartsWith("amqp", StringComparison.Ordinal))
                {
                    throw new ArgumentException($"--backplane must be memory, rabbitmq or an amqp:// URL (got '{options.Backplane}').");
                }
                options.Validate();
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            try
            {
                var report = await RunWithProgressAsync(options, cancellationToken);
                PrintSummary(report);
                return 0;
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("bench cancelled; everything it started has been stopped.");
                return 130;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or HttpRequestException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Command CreateWorker()
    {
        var index = new Option<int>("--index") { Description = "This worker's number" };
        var command = new Command("bench-worker", "A bench worker process, driven over standard input and output") { index };
        command.Hidden = true;
        command.SetAction((_, cancellationToken) => WorkerHost.RunAsync(Console.In, Console.Out, cancellationToken));
        return command;
    }

    private static Command CreateEcho()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0: any free port)" };
        var command = new Command("bench-echo", "The bench's Kestrel baseline: a bare WebSocket echo and broadcast server") { port };
        command.Hidden = true;
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var app = await EchoServer.StartAsync(parse.GetValue(port), cancellationToken);
            Console.WriteLine($"echo listening on {app.Urls.First()}");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>A live status line on a terminal; plain progress lines when the output is redirected (CI, files).</summary>
    private static async Task<BenchReport> RunWithProgressAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        if (Console.IsOutputRedirected)
        {
            return await BenchRunner.RunAsync(options, line => Console.WriteLine(line), cancellationToken);
        }
        BenchReport? report = null;
        await AnsiConsole.Status().Spinner(Spinner.Known.Dots).StartAsync("starting…", async context =>
        {
            string? lastPhase = null;
            report = await BenchRunner.RunAsync(options, line =>
            {
                // Keep a line per phase on screen; the spinner shows the latest figures.
                var phase = line.Split(':')[0] + (line.Contains("…", StringComparison.Ordinal) ? line : "");
                if (line.Contains('…') && phase != lastPhase)
                {
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
                    lastPhase = phase;
                }
                context.Status(Markup.Escape(line));
            }, cancellationToken);
        });
        return report!;
    }

    private static void PrintSummary(BenchReport report)
    {
        if (report.PathComparisons is { } rows)
        {
            PrintPaths(report, rows);
            return;
        }
        var table = new Table().Title($"switchboard bench: {report.Scenario}").AddColumn("figure").AddColumn(new TableColumn("Switchboard").RightAligned());
        if (report.Baseline is not null)
        {
            table.AddColumn(new TableColumn(report.Baseline.Target).RightAligned()).AddColumn(new TableColumn("ratio").RightAligned());
        }
        foreach (var c in report.Comparisons)
        {
            var cells = new List<string> { c.Label, ReportWriter.Format(c.Switchboard, c.Unit) };
            if (report.Baseline is not null)
            {
                cells.Add(ReportWriter.Format(c.Baseline, c.Unit));
                cells.Add(c.Ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—");
            }
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        AnsiConsole.Write(table);
        PrintProcesses(report.NamedRuns());
    }

    /// <summary>The <c>--proxy</c> summary: each figure on every path, then the ratios between paths; with rounds, medians and each round's ratios.</summary>
    private static void PrintPaths(BenchReport report, IReadOnlyList<PathComparison> rows)
    {
        var count = report.Rounds is { Count: > 0 } r ? r[0].Runs.Count : 1;
        var table = new Table().Title($"switchboard bench: {report.Scenario}, direct and through proxies{(count > 1 ? $", medians of {count} rounds" : "")}").AddColumn("figure");
        foreach (var path in report.Paths!)
        {
            table.AddColumn(new TableColumn(path.Target).RightAligned());
        }
        var ratioNames = rows.Count == 0 ? [] : rows[0].Ratios.Keys.ToList();
        foreach (var name in ratioNames)
        {
            table.AddColumn(new TableColumn(name).RightAligned());
        }
        foreach (var row in rows)
        {
            var cells = new List<string> { row.Label };
            cells.AddRange(row.Values.Values.Select(v => ReportWriter.Format(v, row.Unit)));
            cells.AddRange(row.Ratios.Values.Select(ReportWriter.Ratio));
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        AnsiConsole.Write(table);
        PrintRoundRatios(rows, count);
        PrintProcesses(report.NamedRuns());
    }

    /// <summary>With rounds: the latency and throughput ratios within each round, so that the spread behind the medians shows.</summary>
    private static void PrintRoundRatios(IReadOnlyList<PathComparison> rows, int count)
    {
        var spread = RoundRatioTable.Rows(rows);
        if (spread.Count == 0)
        {
            return;
        }
        var table = new Table().Title("ratios within each round").AddColumn("figure").AddColumn("ratio");
        for (var round = 1; round <= count; round++)
        {
            table.AddColumn(new TableColumn($"round {round}").RightAligned());
        }
        table.AddColumn(new TableColumn("median").RightAligned());
        foreach (var row in spread)
        {
            table.AddRow([.. new[] { row.Label, row.Ratio }.Concat(row.Rounds.Select(ReportWriter.Ratio)).Append(ReportWriter.Ratio(row.Median)).Select(Markup.Escape)]);
        }
        AnsiConsole.Write(table);
    }

    private static void PrintProcesses(IReadOnlyList<ScenarioResult> results)
    {
        foreach (var result in results)
        {
            foreach (var p in result.Processes)
            {
                Console.WriteLine($"  {result.Target} {p.Name} (pid {p.ProcessId}): {p.Connections:#,0} connections, RSS {ReportWriter.Bytes(p.RssBeforeBytes)} → {ReportWriter.Bytes(p.RssAfterBytes)} (peak {ReportWriter.Bytes(p.RssPeakBytes)}), {(p.RssPerConnectionBytes is { } b ? ReportWriter.Bytes((long)b) : "—")} per connection, {(p.RssEndBytes is { } end ? $"{ReportWriter.Bytes(end)} at the end of the hold ({(p.RssEndPerConnectionBytes is { } e ? ReportWriter.Bytes((long)e) : "—")} per connection), " : "")}CPU {p.CpuCores:0.00} cores{(p.ConnectCpu is { } connect ? $" ({connect.TotalSeconds:0.00} s while connecting)" : "")}, {p.OpenFiles} open files");
            }
            foreach (var (title, counts) in new[] { ("failed connections", result.ConnectFailures), ("errors", result.Errors), ("server closes", result.Closes) })
            {
                if (counts.Count > 0)
                {
                    Console.WriteLine($"  {result.Target} {title}: {string.Join(", ", counts.Select(c => $"{c.Key} × {c.Value}"))}");
                }
            }
            foreach (var note in result.Notes)
            {
                Console.WriteLine($"  {result.Target}: {note}");
            }
        }
    }

    private static Uri? Url(string? value, string flag, params string[] schemes)
    {
        if (value is null)
        {
            return null;
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || !schemes.Contains(url.Scheme))
        {
            throw new ArgumentException($"{flag} must be an absolute {string.Join(" or ", schemes.Select(s => s + "://"))} URL (got '{value}').");
        }
        return url;
    }

    private static int LocalNodes(string? value)
    {
        if (value is null)
        {
            return 0;
        }
        if (!value.StartsWith("local:", StringComparison.Ordinal) || !int.TryParse(value.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            throw new ArgumentException($"--cluster must be local:N with N at least 1 (got '{value}').");
        }
        return n;
    }

    /// <summary>Parses 500ms, 30s, 2m, 1h or a plain number of seconds.</summary>
    internal static TimeSpan Duration(string value)
    {
        var (number, unit) = value.EndsWith("ms", StringComparison.Ordinal) ? (value[..^2], 0.001)
            : value.EndsWith('s') ? (value[..^1], 1.0)
            : value.EndsWith('m') ? (value[..^1], 60.0)
            : value.EndsWith('h') ? (value[..^1], 3600.0)
            : (value, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            throw new ArgumentException($"--duration must look like 500ms, 30s, 2m or 1h (got '{value}').");
        }
        return TimeSpan.FromSeconds(amount * unit);
    }

    /// <summary>Parses none, a comma list, or a range a.b.c.d-a.b.c.e (last octet only).</summary>
    internal static IReadOnlyList<string> Addresses(string value, string flag)
    {
        if (value is "" or "none")
        {
            return [];
        }
        var result = new List<string>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-', 2);
            if (range.Length == 1)
            {
                result.Add(IPAddress.TryParse(part, out _) ? part : throw new ArgumentException($"{flag}: '{part}' is not an IP address."));
                continue;
            }
            if (!IPAddress.TryParse(range[0], out var from) || !IPAddress.TryParse(range[1], out var to) || from.GetAddressBytes().Length != 4
                || !from.GetAddressBytes().AsSpan(0, 3).SequenceEqual(to.GetAddressBytes().AsSpan(0, 3)) || to.GetAddressBytes()[3] < from.GetAddressBytes()[3])
            {
                throw new ArgumentException($"{flag}: '{part}' must be a range of IPv4 addresses differing in the last number, e.g. 127.0.1.1-127.0.1.254.");
            }
            var bytes = from.GetAddressBytes();
            for (int last = bytes[3]; last <= to.GetAddressBytes()[3]; last++)
            {
                bytes[3] = (byte)last;
                result.Add(new IPAddress(bytes).ToString());
            }
        }
        return result;
    }
}
