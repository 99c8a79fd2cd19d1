using System.Diagnostics;
using Switchboard.Bench.Measurement;
using Switchboard.Bench.Targets;

namespace Switchboard.Bench.Tests.Measurement;

/// <summary>What the bench reads of a process from <c>/proc</c>, checked on the test process itself.</summary>
public sealed class ProcessSamplerTests
{
    [Fact]
    public void Reading_HasTheRssAndItsAnonymousPart_WhichGrowsWithWhatTheProcessHolds()
    {
        var before = ProcessSampler.Read(Environment.ProcessId).ShouldNotBeNull();
        before.RssBytes.ShouldBeGreaterThan(0);
        before.AnonBytes.ShouldBeInRange(1, before.RssBytes);

        // 64 MiB written to, so resident: the anonymous part grows by about that much.
        var held = new byte[64 * 1024 * 1024];
        for (var i = 0; i < held.Length; i += 4096)
        {
            held[i] = 1;
        }
        var after = ProcessSampler.Read(Environment.ProcessId).ShouldNotBeNull();

        (after.AnonBytes - before.AnonBytes).ShouldBeGreaterThan(60L * 1024 * 1024);
        GC.KeepAlive(held);
    }

    [Fact]
    public void AProcessThatIsNotThere_ReadsAsNull() => ProcessSampler.Read(int.MaxValue).ShouldBeNull();

    [Fact]
    public void TheCpuBetweenTheBeforeAndAfterMarks_IsWhatTheProcessSpentInBetween()
    {
        var watch = new ProcessWatch([new ClusterProcess("test", Environment.ProcessId, [])]);
        var self = Process.GetCurrentProcess();
        watch.MarkBefore();
        var from = self.TotalProcessorTime;
        // Busy until the kernel has counted 300 ms of this process's CPU (its other threads may add to it).
        while (self.TotalProcessorTime - from < TimeSpan.FromMilliseconds(300))
        {
            self.Refresh();
            Thread.SpinWait(10_000);
        }
        watch.MarkAfter();

        var (name, cpu) = watch.CpuBeforeToAfter().ShouldHaveSingleItem();
        name.ShouldBe("test");
        // /proc counts in 10 ms ticks.
        cpu.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(280));
    }
}
