namespace Switchboard.Memory;

/// <summary>
/// Samples a process's connection count and allocations once a second and runs a trim when its
/// <see cref="IdleTrimPolicy"/> says one is due; tells <c>trimmed</c> what each trim gave back.
/// </summary>
/// <param name="policy">When a trim is due.</param>
/// <param name="connections">The connections the process holds now.</param>
/// <param name="allocatedBytes">Bytes the process has allocated so far (<see cref="GC.GetTotalAllocatedBytes"/>).</param>
/// <param name="trim">The trim (<see cref="MemoryTrim.Run"/>).</param>
/// <param name="time">The clock the samples are taken on.</param>
/// <param name="trimmed">Told after each trim, with the connections held then, to log and count it.</param>
/// <param name="failed">Told when a trim threw; the process serves on untrimmed.</param>
public sealed class IdleTrimmer(
    IdleTrimPolicy policy, Func<int> connections, Func<long> allocatedBytes, Func<TrimOutcome> trim, TimeProvider time,
    Action<int, TrimOutcome> trimmed, Action<Exception> failed)
    : IAsyncDisposable
{
    /// <summary>How often the process is sampled.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>A trimmer for this process: its allocations, <see cref="MemoryTrim.Run"/>.</summary>
    public static IdleTrimmer For(IdleTrimSettings settings, Func<int> connections, TimeProvider time, Action<int, TrimOutcome> trimmed, Action<Exception> failed) =>
        new(new IdleTrimPolicy(settings, time), connections, static () => GC.GetTotalAllocatedBytes(), MemoryTrim.Run, time, trimmed, failed);

    /// <summary>Starts sampling.</summary>
    public void Start() => _loop = RunAsync();

    /// <summary>Stops sampling; a trim under way finishes first.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>Whole megabytes to one decimal, for log lines.</summary>
    public static double Megabytes(long bytes) => Math.Round(bytes / (1024.0 * 1024.0), 1);

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
                trimmed(held, trim());
            }
            catch (Exception e)
            {
                // Not expected (a missing malloc_trim is handled where it is called).
                failed(e);
            }
        }
    }

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
