using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Admin;

/// <summary>
/// The proxy's figures: plain counters the data path bumps with one interlocked add, published both as
/// System.Diagnostics.Metrics instruments (meter <c>Switchboard.Proxy</c>) and in Prometheus text on <c>/metrics</c>.
/// </summary>
internal sealed class ProxyMetrics : IDisposable
{
    public const string MeterName = "Switchboard.Proxy";

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<int, long> _refused = new();
    private long _accepted;
    private long _tunnels;
    private long _kernelRelayed;
    private long _kernelDeclined;
    private long _bytesUpstream;
    private long _bytesDownstream;
    private long _idleClosed;
    private long _acceptsDelayed;
    private long _clientFramesQueued;
    private long _slowClients;
    private long _localDialFailures;
    private long _acceptBackoffs;
    private readonly long[] _failovers = new long[Enum.GetValues<Failover.FailoverResult>().Length];

    public ProxyMetrics(IMeterFactory? meterFactory, Func<int> openConnections, Func<Backend[]> backends)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        OpenConnections = openConnections;
        Backends = backends;
        _meter.CreateObservableUpDownCounter("switchboard.proxy.connections", () => OpenConnections(), "{connection}", "Open client connections");
        _meter.CreateObservableCounter("switchboard.proxy.accepted", () => Interlocked.Read(ref _accepted), "{connection}", "Client connections accepted");
        _meter.CreateObservableCounter("switchboard.proxy.tunnels", () => Interlocked.Read(ref _tunnels), "{connection}", "Connections relayed to a backend");
        _meter.CreateObservableCounter("switchboard.proxy.kernel_relayed", () => Interlocked.Read(ref _kernelRelayed), "{connection}", "Tunnels whose bytes the kernel relayed");
        _meter.CreateObservableCounter("switchboard.proxy.kernel_declined", () => Interlocked.Read(ref _kernelDeclined), "{connection}", "Tunnels the kernel relay could not take, relayed by the proxy");
        _meter.CreateObservableCounter("switchboard.proxy.local_dial_failures", () => Interlocked.Read(ref _localDialFailures), "{connection}", "Dials that failed on the proxy's side (descriptors, memory, ports, source address)");
        _meter.CreateObservableCounter("switchboard.proxy.bytes", () => new[]
        {
            new Measurement<long>(Interlocked.Read(ref _bytesUpstream), new KeyValuePair<string, object?>("direction", "upstream")),
            new Measurement<long>(Interlocked.Read(ref _bytesDownstream), new KeyValuePair<string, object?>("direction", "downstream")),
        }, "By", "Bytes relayed");
    }

    private Func<int> OpenConnections { get; }

    private Func<Backend[]> Backends { get; }

    public void Accepted() => Interlocked.Increment(ref _accepted);

    public void TunnelOpened() => Interlocked.Increment(ref _tunnels);

    /// <summary>A tunnel was handed to the kernel relay.</summary>
    public void KernelRelayed() => Interlocked.Increment(ref _kernelRelayed);

    /// <summary>Tunnels handed to the kernel relay so far.</summary>
    public long KernelRelayedCount => Interlocked.Read(ref _kernelRelayed);

    /// <summary>A tunnel the kernel relay could not take (the proxy relays it itself).</summary>
    public void KernelDeclined() => Interlocked.Increment(ref _kernelDeclined);

    /// <summary>Tunnels the kernel relay could not take so far.</summary>
    public long KernelDeclinedCount => Interlocked.Read(ref _kernelDeclined);

    public void Refused(int status) => _refused.AddOrUpdate(status, 1, (_, n) => n + 1);

    public void IdleClosed() => Interlocked.Increment(ref _idleClosed);

    public void AcceptDelayed() => Interlocked.Increment(ref _acceptsDelayed);

    /// <summary>A dial failed on the proxy's side (see <see cref="SourcePool.LocalDialException"/>); not a backend's failure.</summary>
    public void LocalDialFailed() => Interlocked.Increment(ref _localDialFailures);

    public long LocalDialFailures => Interlocked.Read(ref _localDialFailures);

    /// <summary>An accept failed for want of descriptors or memory and the accept loop waited before the next.</summary>
    public void AcceptBackedOff() => Interlocked.Increment(ref _acceptBackoffs);

    public long AcceptBackoffs => Interlocked.Read(ref _acceptBackoffs);

    /// <summary>A failover-mode session moved to another node (resumed, resumed with a gap) or could not (lost).</summary>
    public void Failover(Failover.FailoverResult result) => Interlocked.Increment(ref _failovers[(int)result]);

    public long FailoverCount(Failover.FailoverResult result) => Interlocked.Read(ref _failovers[(int)result]);

    /// <summary>A node's frame, read by a failover-mode session, waits in its client's send queue.</summary>
    public void ClientFrameQueued() => Interlocked.Increment(ref _clientFramesQueued);

    /// <summary>A failover-mode client was closed with 3008: its send queue overflowed.</summary>
    public void SlowClient() => Interlocked.Increment(ref _slowClients);

    /// <summary>Failover-mode clients closed with 3008 so far.</summary>
    public long SlowClients => Interlocked.Read(ref _slowClients);

    /// <summary>Node frames queued for failover-mode clients so far.</summary>
    public long ClientFramesQueued => Interlocked.Read(ref _clientFramesQueued);

    public void Bytes(long upstream, long downstream)
    {
        if (upstream != 0)
        {
            Interlocked.Add(ref _bytesUpstream, upstream);
        }
        if (downstream != 0)
        {
            Interlocked.Add(ref _bytesDownstream, downstream);
        }
    }

    public long RefusedCount(int status) => _refused.GetValueOrDefault(status);

    /// <summary>Bytes relayed from clients to backends, and from backends to clients.</summary>
    public (long Upstream, long Downstream) BytesRelayed => (Interlocked.Read(ref _bytesUpstream), Interlocked.Read(ref _bytesDownstream));

    /// <summary>Everything in the Prometheus text exposition format (version 0.0.4).</summary>
    public string ToPrometheusText()
    {
        var text = new StringBuilder(2048);
        Gauge(text, "switchboard_proxy_connections", "Open client connections.", OpenConnections());
        Counter(text, "switchboard_proxy_accepted_total", "Client connections accepted.", Interlocked.Read(ref _accepted));
        Counter(text, "switchboard_proxy_tunnels_total", "Connections relayed to a backend.", Interlocked.Read(ref _tunnels));
        Counter(text, "switchboard_proxy_kernel_relayed_total", "Tunnels whose bytes the kernel relayed (Proxy:KernelRelay).", Interlocked.Read(ref _kernelRelayed));
        Counter(text, "switchboard_proxy_kernel_declined_total", "Tunnels the kernel relay could not take; the proxy relayed them (Proxy:KernelRelay).", Interlocked.Read(ref _kernelDeclined));
        Counter(text, "switchboard_proxy_idle_closed_total", "Connections closed by the idle timeout.", Interlocked.Read(ref _idleClosed));
        Counter(text, "switchboard_proxy_local_dial_failures_total", "Dials that failed on the proxy's side (out of descriptors, memory or local ports, a source address that cannot be bound); never counted against a backend.", Interlocked.Read(ref _localDialFailures));
        Counter(text, "switchboard_proxy_accept_backoffs_total", "Accepts that failed for want of file descriptors or kernel memory, each followed by a wait of 10-100 ms.", Interlocked.Read(ref _acceptBackoffs));
        Counter(text, "switchboard_proxy_accepts_delayed_total", "Accepts held back by the accept-rate limit.", Interlocked.Read(ref _acceptsDelayed));
        Counter(text, "switchboard_proxy_slow_clients_total", "Failover mode: clients closed with 3008, their send queue overflowed (Proxy:SendQueueFrames, Proxy:SendQueueBytes).", Interlocked.Read(ref _slowClients));
        Counter(text, "switchboard_proxy_client_frames_queued_total", "Failover mode: frames read from nodes and queued for their clients (Proxy:SendQueueFrames).", Interlocked.Read(ref _clientFramesQueued));
        Gauge(text, "switchboard_proxy_gc_heap_bytes", "Managed heap size after the last garbage collection.", GC.GetGCMemoryInfo().HeapSizeBytes);
        Gauge(text, "switchboard_proxy_working_set_bytes", "The process's resident memory.", Environment.WorkingSet);
        Header(text, "switchboard_proxy_refused_total", "Connections answered with an HTTP error, by status.", "counter");
        foreach (var (status, count) in _refused.OrderBy(p => p.Key))
        {
            Line(text, "switchboard_proxy_refused_total", $"status=\"{status}\"", count);
        }
        Header(text, "switchboard_proxy_failovers_total", "Failover-mode sessions moved to another node, by result (resumed, gap, lost, promoted).", "counter");
        foreach (var result in Enum.GetValues<Failover.FailoverResult>())
        {
            Line(text, "switchboard_proxy_failovers_total", $"result=\"{result.ToString().ToLowerInvariant()}\"", FailoverCount(result));
        }
        Header(text, "switchboard_proxy_bytes_total", "Bytes relayed.", "counter");
        Line(text, "switchboard_proxy_bytes_total", "direction=\"upstream\"", Interlocked.Read(ref _bytesUpstream));
        Line(text, "switchboard_proxy_bytes_total", "direction=\"downstream\"", Interlocked.Read(ref _bytesDownstream));
        var backends = Backends();
        Header(text, "switchboard_proxy_backend_connections", "Open tunnels per backend.", "gauge");
        foreach (var backend in backends)
        {
            Line(text, "switchboard_proxy_backend_connections", BackendLabel(backend), backend.Connections);
        }
        Header(text, "switchboard_proxy_backend_up", "1 when the backend takes new connections.", "gauge");
        foreach (var backend in backends)
        {
            Line(text, "switchboard_proxy_backend_up", BackendLabel(backend), backend.State == BackendState.Up ? 1 : 0);
        }
        Header(text, "switchboard_proxy_backend_dial_failures_total", "Failed upstream dials per backend.", "counter");
        foreach (var backend in backends)
        {
            Line(text, "switchboard_proxy_backend_dial_failures_total", BackendLabel(backend), backend.DialFailures);
        }
        return text.ToString();
    }

    public void Dispose() => _meter.Dispose();

    // The origin too: a static backend and a cluster node may share an id, and two series must not share their labels.
    private static string BackendLabel(Backend backend) =>
        $"backend=\"{backend.Id.Replace("\\", "\\\\").Replace("\"", "\\\"")}\",origin=\"{BackendStatus.OriginOf(backend)}\"";

    private static void Gauge(StringBuilder text, string name, string help, long value)
    {
        Header(text, name, help, "gauge");
        Line(text, name, null, value);
    }

    private static void Counter(StringBuilder text, string name, string help, long value)
    {
        Header(text, name, help, "counter");
        Line(text, name, null, value);
    }

    private static void Header(StringBuilder text, string name, string help, string type) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Line(StringBuilder text, string name, string? labels, long value)
    {
        text.Append(name);
        if (labels is not null)
        {
            text.Append('{').Append(labels).Append('}');
        }
        text.Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
