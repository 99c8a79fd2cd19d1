using System.Diagnostics;
using Switchboard.Backplane.RabbitMq;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>The coalescing window's wait: never shorter than asked, one after another, and no wait outlives disposal.</summary>
public sealed class PreciseDelayTests
{
    [Theory]
    [InlineData(20_000)]
    [InlineData(500)]
    public async Task EachWait_LastsAtLeastTheDelay_AndTheNextOneWorksToo(int microseconds)
    {
        var delay = TimeSpan.FromMicroseconds(microseconds);
        using var window = new PreciseDelay(delay);

        for (var i = 0; i < 5; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await window.WaitAsync().WithTimeout($"wait {i}");
            Stopwatch.GetElapsedTime(started).ShouldBeGreaterThanOrEqualTo(delay);
        }
    }

    [Fact]
    public async Task AWaitInProgress_EndsWithItsSleep_AfterDisposal()
    {
        var window = new PreciseDelay(TimeSpan.FromMilliseconds(200));
        var waiting = window.WaitAsync();

        window.Dispose();

        await waiting.WithTimeout("the wait that was in progress");
        window.WaitAsync().IsCompleted.ShouldBeTrue("a disposed window does not wait");
    }

    [Fact]
    public async Task ASecondWaiter_WhileOneWaits_IsRefused()
    {
        // Long enough that the first wait is still on when a slow machine gets to the second.
        using var window = new PreciseDelay(TimeSpan.FromSeconds(2));
        var first = window.WaitAsync();

        Should.Throw<InvalidOperationException>(() => window.WaitAsync());

        window.Dispose();
        await first.WithTimeout("the first wait, ended by the dispose");
    }
}
