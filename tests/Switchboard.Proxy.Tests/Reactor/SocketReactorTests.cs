using Switchboard.Reactor;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>The reactor's own contract: work posted from other threads runs on its thread, all of it.</summary>
public sealed class SocketReactorTests
{
    [Fact]
    public async Task WorkPostedFromManyThreadsAtOnce_AllRuns_NoWakeUpIsLost()
    {
        // Timers post from pool threads while the reactor is waking up for earlier posts. A wake-up lost in that race
        // left later posts queued with the reactor asleep, for good: a tunnel then waited for a look that never came.
        using var reactor = new SocketReactor("test reactor", e => throw new InvalidOperationException("a target failed", e));
        var counter = new CountingTarget();
        const int Threads = 4;
        const int Rounds = 20_000;
        var posters = Enumerable.Range(0, Threads).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                reactor.Post(counter, 1, 0);
                if (round % 64 == 0)
                {
                    // Let the reactor drain the queue and go back to sleep now and then: the race is at its wake-up.
                    await Task.Yield();
                }
            }
        }));
        await Task.WhenAll(posters).WaitAsync(Patience);

        await WaitAsync(() => counter.Count == Threads * Rounds, "every posted piece of work to run");
    }

    private sealed class CountingTarget : IReactorTarget
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void OnEvents(uint events, int tag) => Interlocked.Increment(ref _count);
    }
}
