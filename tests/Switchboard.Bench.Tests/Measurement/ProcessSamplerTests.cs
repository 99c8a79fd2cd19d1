using Switchboard.Bench.Measurement;

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
}
