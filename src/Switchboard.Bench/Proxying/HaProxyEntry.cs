using System.Diagnostics;
using System.Net.Sockets;
using Switchboard.Bench.Targets;

namespace Switchboard.Bench.Proxying;

/// <summary>One HAProxy process the bench configures and runs in the foreground (<c>haproxy -f cfg -db</c>), never as a service.</summary>
internal sealed class HaProxyEntry : IEntryPoint
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly ManagedProcess _process;
    private readonly string _folder;
    private readonly Uri _stats;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private HaProxyEntry(ManagedProcess process, string folder, Uri address, Uri stats, string name)
    {
        _process = process;
        _folder = folder;
        _stats = stats;
        Address = address;
        Process = new ClusterProcess(name, process.Id, [], EntryPoint: true);
    }

    public Uri Address { get; }

    public ClusterProcess Process { get; }

    /// <summary>The <c>haproxy</c> executable on the PATH, or null when it is not installed.</summary>
    public static string? Executable()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/sbin"))
        {
            var candidate = Path.Combine(folder, "haproxy");
            if (folder.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Writes its configuration into a temporary folder, starts it and returns once its statistics page answers.</summary>
    public static async Task<HaProxyEntry> StartAsync(string name, IReadOnlyList<NodeEndpoint> nodes, int maxConnections, string? source, int nice, CancellationToken cancellationToken)
    {
        var executable = Executable() ?? throw new InvalidOperationException("haproxy is not installed (Debian: apt-get install haproxy).");
        var folder = Directory.CreateTempSubdirectory("switchboard-bench-haproxy-").FullName;
        try
        {
            var port = FreePort();
            var statsPort = FreePort();
            // As many threads as cores: the parallelism the .NET proxy's thread pool gets on the same machine.
            var config = HaProxyConfig.Render(port, statsPort, nodes, maxConnections, Environment.ProcessorCount, source);
            var file = Path.Combine(folder, "haproxy.cfg");
            await File.WriteAllTextAsync(file, config, cancellationToken).ConfigureAwait(false);
            var process = ManagedProcess.Start(name, Niceness.Apply(new ProcessStartInfo(executable, ["-f", file, "-db"]), nice));
            var entry = new HaProxyEntry(process, folder, new Uri($"ws://127.0.0.1:{port}"), new Uri($"http://127.0.0.1:{statsPort}{HaProxyConfig.StatsPath}"), name);
            try
            {
                await entry.WaitUntilServingAsync(cancellationToken).ConfigureAwait(false);
                return entry;
            }
            catch
            {
                await entry.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            TryDelete(folder);
            throw;
        }
    }

    public IReadOnlyList<string> Warnings() =>
        _process.Lines(l => l.Contains("[WARNING]", StringComparison.Ordinal) || l.Contains("[ALERT]", StringComparison.Ordinal));

    public async Task<EntryCounts?> CountsAsync(CancellationToken cancellationToken)
    {
        try
        {
            return HaProxyConfig.ParseFrontend(await _http.GetStringAsync(_stats, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // SIGTERM stops HAProxy at once (a soft stop would be SIGUSR1): its clients are closed already.
        await _process.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        TryDelete(_folder);
    }

    private async Task WaitUntilServingAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (await CountsAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"haproxy exited at start: {_process.Tail()}");
            }
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"haproxy did not serve its statistics page within {StartTimeout.TotalSeconds:0} s: {_process.Tail()}");
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A loopback port free right now (HAProxy cannot tell which port it got for port 0).</summary>
    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
