namespace Switchboard.Memory;

/// <summary>When an <see cref="IdleTrimPolicy"/> calls a burst of connections settled and due for a trim.</summary>
/// <param name="SettleTime">
/// How long the process must have been quiet: its connection count moved by at most a tenth of
/// <paramref name="MinConnectionChange"/> and it allocated at most <paramref name="MaxAllocationRate"/> on average.
/// </param>
/// <param name="MinConnectionChange">How far the count must have moved (up or down) since the last trim, or the start: one trim per burst.</param>
/// <param name="MaxAllocationRate">The highest average allocation rate, in bytes per second, that counts as quiet.</param>
/// <param name="MinInterval">The least time between two trims (each is a blocking full collection).</param>
public sealed record IdleTrimSettings(TimeSpan SettleTime, int MinConnectionChange, long MaxAllocationRate, TimeSpan MinInterval)
{
    /// <summary>5 s quiet, 1,000 connections, 2 MiB/s, 30 s apart: the node's defaults, and the proxy's.</summary>
    public static IdleTrimSettings Default { get; } = new(TimeSpan.FromSeconds(5), 1000, 2 * 1024 * 1024, TimeSpan.FromSeconds(30));
}
