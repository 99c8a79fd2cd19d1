using System.Collections.Concurrent;
using Switchboard.Bench.Measurement;

namespace Switchboard.Bench.Workers;

/// <summary>What one worker measures: handshake and message latency (µs), and failures, errors and closes by reason.</summary>
internal sealed class WorkerMeters
{
    public LatencyHistogram Handshake { get; } = new();

    public LatencyHistogram Latency { get; private set; } = new();

    /// <summary>
    /// How late paced messages left: the time each was written minus its due time (µs). Latency counts from the
    /// write, so this says how much of the load generator's own delay the latency figures leave out.
    /// </summary>
    public LatencyHistogram SendLag { get; private set; } = new();

    /// <summary>
    /// Latency of paced messages counted from their due time rather than their write (µs): what a client that wanted to
    /// send then would have seen, the load generator's own lateness included (no coordinated omission).
    /// </summary>
    public LatencyHistogram LatencyFromDue { get; private set; } = new();

    /// <summary>How long moves took: from leaving a node to the welcome on the next (µs).</summary>
    public LatencyHistogram Moved { get; } = new();

    private long _moveRequests;
    private long _resumed;
    private long _notResumed;
    private long _missed;
    private long _refused;

    /// <summary>Moves done: each client that reconnected and was welcomed again.</summary>
    public long Moves => Interlocked.Read(ref _resumed) + Interlocked.Read(ref _notResumed);

    /// <summary>Moves whose session was resumed whole.</summary>
    public long Resumed => Interlocked.Read(ref _resumed);

    /// <summary>Moves whose session was not resumed whole: a new session, or a gap named in the welcome.</summary>
    public long NotResumed => Interlocked.Read(ref _notResumed);

    /// <summary>Messages the welcomes said were lost (<c>missedFrom</c>..<c>missedTo</c>).</summary>
    public long Missed => Interlocked.Read(ref _missed);

    /// <summary>Bench messages the nodes refused (an error frame, e.g. <c>rate_limited</c>): sent, but never to be delivered.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary><c>reconnect</c> frames received.</summary>
    public long MoveRequests => Interlocked.Read(ref _moveRequests);

    public void CountMoveRequest() => Interlocked.Increment(ref _moveRequests);

    public void CountResume(bool resumed, long missed)
    {
        Interlocked.Increment(ref resumed ? ref _resumed : ref _notResumed);
        Interlocked.Add(ref _missed, missed);
    }

    public ConcurrentDictionary<string, long> ConnectFailures { get; } = new();

    public ConcurrentDictionary<string, long> Errors { get; } = new();

    public ConcurrentDictionary<string, long> Closes { get; } = new();

    /// <summary>The flat-out window; null when sending at a rate.</summary>
    public FlowWindow? Window { get; set; }

    /// <summary>A bench message arrived at one of this worker's clients.</summary>
    public void OnDelivered(int sender) => Window?.OnDelivered(sender);

    public void CountFailure(string reason) => ConnectFailures.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public void CountError(string code) => Errors.AddOrUpdate(code, 1, (_, n) => n + 1);

    /// <summary>A bench message was refused: counted by its error code, and apart so that it is not counted lost.</summary>
    public void CountRefused(string code)
    {
        CountError(code);
        Interlocked.Increment(ref _refused);
    }

    public void CountClose(int code) => Closes.AddOrUpdate(code.ToString(System.Globalization.CultureInfo.InvariantCulture), 1, (_, n) => n + 1);

    /// <summary>Starts message latency afresh (the traffic phase measures only itself).</summary>
    public void ResetLatency()
    {
        Latency = new LatencyHistogram();
        SendLag = new LatencyHistogram();
        LatencyFromDue = new LatencyHistogram();
    }
}
