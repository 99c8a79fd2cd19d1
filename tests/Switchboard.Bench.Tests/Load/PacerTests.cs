using System.Diagnostics;
using Switchboard.Bench.Load;
using Switchboard.Tests.Common;

namespace Switchboard.Bench.Tests.Load;

/// <summary>The paced senders' clock: never early, and no wait outlives cancellation or disposal.</summary>
public sealed class PacerTests
{
    [Fact]
    public async Task Waits_EndNoEarlierThanTheirDueTimes_WhateverOrderTheyAreAskedIn()
    {
        using var pacer = new Pacer();
        var start = Stopwatch.GetTimestamp();
        // A later wait asked first: the pacer must not sleep past the earlier ones behind it, nor wake anyone early.
        var waits = new[] { 40, 10, 30, 20, 10 }.Select(async (ms, i) =>
        {
            var due = start + (ms * Stopwatch.Frequency / 1000);
            await pacer.WaitUntilAsync(due, CancellationToken.None);
            Stopwatch.GetTimestamp().ShouldBeGreaterThanOrEqualTo(due, $"wait {i} ended before its due time");
        });

        await Task.WhenAll(waits).WithTimeout("every wait");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AWokenWait_ContinuesOnThePacersThread_NotThroughTheThreadPool(bool cancellable)
    {
        using var pacer = new Pacer();
        using var cancel = new CancellationTokenSource();

        var thread = await Task.Run(async () =>
        {
            // Far enough ahead that the wait is still pending when it is asked for, even on a busy machine.
            var due = Stopwatch.GetTimestamp() + (100 * Stopwatch.Frequency / 1000);
            await pacer.WaitUntilAsync(due, cancellable ? cancel.Token : CancellationToken.None).ConfigureAwait(false);
            return Thread.CurrentThread.Name;
        }).WithTimeout("the wait");

        thread.ShouldBe("Bench pacer");
    }

    [Fact]
    public void ADueTimeThatHasPassed_EndsTheWaitAtOnce()
    {
        using var pacer = new Pacer();

        pacer.WaitUntilAsync(Stopwatch.GetTimestamp() - Stopwatch.Frequency, CancellationToken.None).IsCompleted.ShouldBeTrue();
    }

    [Fact]
    public async Task Cancelling_EndsAWaitWithACancellation()
    {
        using var pacer = new Pacer();
        using var cancel = new CancellationTokenSource();
        var wait = pacer.WaitUntilAsync(Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency), cancel.Token);

        await cancel.CancelAsync();

        await Should.ThrowAsync<OperationCanceledException>(() => wait.WithTimeout("the cancelled wait"));
    }

    [Fact]
    public async Task Disposing_EndsEveryPendingWait()
    {
        var pacer = new Pacer();
        var wait = pacer.WaitUntilAsync(Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency), CancellationToken.None);

        pacer.Dispose();

        await wait.WithTimeout("the wait pending at disposal");
        pacer.WaitUntilAsync(Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency), CancellationToken.None).IsCompleted.ShouldBeTrue("a disposed pacer does not wait");
    }
}
