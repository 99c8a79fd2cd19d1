using Microsoft.Extensions.Logging;

namespace Switchboard.Node.Memory;

/// <summary>
/// Samples the node once a second and runs a trim when its <see cref="IdleTrimPolicy"/> says one is due
/// (<see cref="NodeOptions.IdleTrim"/>); logs and counts what each trim gave back.
/// </summary>
internal sealed class IdleTrimmer(
    IdleTrimPolicy policy, Func<int> connections, Func<long> allocatedBytes, Func<TrimOutcome> trim,
    TimeProvider time, ILogger logger, NodeMetrics metrics, string nodeId)
    : IAsyncDisposable
{
    /// <summary>How often the node is sampled.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>The trimmer a node runs: its hub's count, the process's allocations, <see cref="MemoryTrim.Run"/>.</summary>
    public static IdleTrimmer For(NodeOptions options, Func<int> connections, TimeProvider time, ILogger logger, NodeMetrics metrics) =>
        new(new IdleTrimPolicy(options, time), connections, static () => GC.GetTotalAllocatedBytes(), MemoryTrim.Run, time, logger, metrics, options.NodeId);

    public void Start() => _loop = RunAsync();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(SampleInterval, time);
        while (await WaitAsync(timer).ConfigureAwait(false))
        {
            var held = connections();
            if (!policy.Observe(held, allocatedBytes()))
            {
                continue;
            }
            try
            {
                var outcome = trim();
                NodeLog.IdleTrimmed(logger, nodeId, held, Megabytes(outcome.RssBefore), Megabytes(outcome.RssAfter),
                    Megabytes(outcome.RssBefore - outcome.RssAfterCollection), Megabytes(outcome.RssAfterCollection - outcome.RssAfter),
                    Megabytes(outcome.HeapCommittedBefore), Megabytes(outcome.HeapCommittedAfter), outcome.Pause.TotalMilliseconds);
                metrics.IdleTrimmed(nodeId, outcome.RssBefore - outcome.RssAfter);
            }
            catch (Exception e)
            {
                // Not expected (a missing malloc_trim is handled where it is called); the node serves on untrimmed.
                NodeLog.IdleTrimFailed(logger, nodeId, e);
            }
        }
    }

    private static double Megabytes(long bytes) => Math.Round(bytes / (1024.0 * 1024.0), 1);

    private async ValueTask<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
