using Microsoft.Extensions.Logging;
using Switchboard.Memory;

namespace Switchboard.Node.Memory;

/// <summary>The node's idle trim (<see cref="NodeOptions.IdleTrim"/>): a <see cref="IdleTrimmer"/> that logs and counts each trim as the node's.</summary>
internal static class NodeIdleTrim
{
    /// <summary>The node's trimmer, on its options, clock, log and meter.</summary>
    public static IdleTrimmer For(NodeOptions options, Func<int> connections, TimeProvider time, ILogger logger, NodeMetrics metrics) =>
        For(options, connections, static () => GC.GetTotalAllocatedBytes(), MemoryTrim.Run, time, logger, metrics);

    /// <summary>The same with the allocations and the trim given, for tests.</summary>
    public static IdleTrimmer For(NodeOptions options, Func<int> connections, Func<long> allocatedBytes, Func<TrimOutcome> trim, TimeProvider time, ILogger logger, NodeMetrics metrics) =>
        new(new IdleTrimPolicy(options.IdleTrimSettings, time), connections, allocatedBytes, trim, time,
            (held, outcome) =>
            {
                NodeLog.IdleTrimmed(logger, options.NodeId, held, IdleTrimmer.Megabytes(outcome.RssBefore), IdleTrimmer.Megabytes(outcome.RssAfter),
                    IdleTrimmer.Megabytes(outcome.RssBefore - outcome.RssAfterCollection), IdleTrimmer.Megabytes(outcome.RssAfterCollection - outcome.RssAfter),
                    IdleTrimmer.Megabytes(outcome.HeapCommittedBefore), IdleTrimmer.Megabytes(outcome.HeapCommittedAfter), outcome.Pause.TotalMilliseconds);
                metrics.IdleTrimmed(options.NodeId, outcome.RssBefore - outcome.RssAfter);
            },
            e => NodeLog.IdleTrimFailed(logger, options.NodeId, e));
}
