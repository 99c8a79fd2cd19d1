using System.Collections.Concurrent;
using Switchboard.Bench.Measurement;

namespace Switchboard.Bench.Workers;

/// <summary>What one worker measures: handshake and message latency (µs), and failures, errors and closes by reason.</summary>
internal sealed class WorkerMeters
{
    public LatencyHistogram Handshake { get; } = new();

    public LatencyHistogram Latency { get; private set; } = new();

    public ConcurrentDictionary<string, long> ConnectFailures { get; } = new();

    public ConcurrentDictionary<string, long> Errors { get; } = new();

    public ConcurrentDictionary<string, long> Closes { get; } = new();

    /// <summary>The flat-out window; null when sending at a rate.</summary>
    public FlowWindow? Window { get; set; }

    /// <summary>A bench message arrived at one of this worker's clients.</summary>
    public void OnDelivered() => Window?.OnDelivered();

    public void CountFailure(string reason) => ConnectFailures.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public void CountError(string code) => Errors.AddOrUpdate(code, 1, (_, n) => n + 1);

    public void CountClose(int code) => Closes.AddOrUpdate(code.ToString(System.Globalization.CultureInfo.InvariantCulture), 1, (_, n) => n + 1);

    /// <summary>Starts message latency afresh (the traffic phase measures only itself).</summary>
    public void ResetLatency() => Latency = new LatencyHistogram();
}
