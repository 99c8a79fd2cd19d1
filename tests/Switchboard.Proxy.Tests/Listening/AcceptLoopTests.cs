using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Switchboard.Proxy.Admin;
using Switchboard.Proxy.Listening;
using Switchboard.Tests.Common;

namespace Switchboard.Proxy.Tests.Listening;

public sealed class AcceptLoopTests
{
    [Fact]
    public async Task AcceptsFailingForWantOfDescriptors_AreRetriedAfterAGrowingWait_NotAtOnce_AndLoggedOnce()
    {
        // Running out of file descriptors for real would take the whole test process with it: the accepts fail on cue.
        var clock = new WatchedClock();
        var log = new RecordingLogger();
        using var metrics = new ProxyMetrics(null, () => 0, () => []);
        using var stop = new CancellationTokenSource();
        using var accepted = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Written on the loop's thread, read on this one.
        var handled = new ConcurrentQueue<Socket>();
        var calls = new ConcurrentQueue<DateTimeOffset>();
        // Five accepts fail (EMFILE, ENFILE alike, then ENOBUFS), one works, the next fails again, then the backlog is empty.
        var script = new SocketError?[]
        {
            SocketError.TooManyOpenSockets, SocketError.TooManyOpenSockets, SocketError.TooManyOpenSockets, SocketError.NoBufferSpaceAvailable,
            SocketError.TooManyOpenSockets, null, SocketError.TooManyOpenSockets,
        };
        async ValueTask<Socket> AcceptAsync(CancellationToken token)
        {
            calls.Enqueue(clock.GetUtcNow());
            if (calls.Count > script.Length)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            return script[calls.Count - 1] is { } error ? throw new SocketException((int)error) : accepted;
        }
        var loop = new AcceptLoop(AcceptAsync, handled.Enqueue, () => 0, metrics, clock, log);

        var running = Task.Run(() => loop.RunAsync(stop.Token));
        // Each failed accept is followed by a wait on the clock, 10 ms doubling up to 100 ms, and the next accept only after it.
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 6; i++)
        {
            var wait = await clock.Timers.Reader.ReadAsync().AsTask().WithTimeout($"the accept loop's wait after failure {i + 1}");
            waits.Add(wait);
            clock.Advance(wait);
        }
        await Eventually.TrueAsync(() => calls.Count == script.Length + 1, "the accept after the last wait");
        await stop.CancelAsync();
        await running.WithTimeout("the accept loop to stop");

        waits.Select(w => w.TotalMilliseconds).ShouldBe([10, 20, 40, 80, 100, 10]); // the accept that worked ended the backoff
        handled.ShouldBe([accepted]);
        var times = calls.ToArray();
        times[1].ShouldBe(times[0] + TimeSpan.FromMilliseconds(10)); // not before
        metrics.AcceptBackoffs.ShouldBe(6);
        log.Count("AcceptBackingOff").ShouldBe(1); // all within one second: the rest are held back and counted
    }

    [Fact]
    public async Task AnAcceptFailingForAnotherReason_IsRetriedAtOnce()
    {
        var clock = new WatchedClock();
        using var metrics = new ProxyMetrics(null, () => 0, () => []);
        using var stop = new CancellationTokenSource();
        var calls = 0; // incremented on the loop's thread, read on this one
        async ValueTask<Socket> AcceptAsync(CancellationToken token)
        {
            if (Interlocked.Increment(ref calls) > 3)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            throw new SocketException((int)SocketError.ConnectionAborted); // a client that reset before it was taken
        }
        var loop = new AcceptLoop(AcceptAsync, _ => { }, () => 0, metrics, clock, new RecordingLogger());

        var running = Task.Run(() => loop.RunAsync(stop.Token));
        await Eventually.TrueAsync(() => Volatile.Read(ref calls) == 4, "three failed accepts and a fourth, without the clock moving");
        await stop.CancelAsync();
        await running.WithTimeout("the accept loop to stop");
        metrics.AcceptBackoffs.ShouldBe(0);
        clock.Timers.Reader.Count.ShouldBe(0);
    }

    [Fact]
    public async Task AnAcceptThatFails_DoesNotUseUpTheAcceptRate()
    {
        // One accept a second, a burst of one: the first accept fails for want of descriptors, the next works.
        var clock = new WatchedClock();
        using var metrics = new ProxyMetrics(null, () => 0, () => []);
        using var stop = new CancellationTokenSource();
        using var accepted = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var handled = new ConcurrentQueue<Socket>();
        var calls = 0;
        async ValueTask<Socket> AcceptAsync(CancellationToken token)
        {
            var call = Interlocked.Increment(ref calls);
            if (call > 2)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            return call == 1 ? throw new SocketException((int)SocketError.TooManyOpenSockets) : accepted;
        }
        var loop = new AcceptLoop(AcceptAsync, handled.Enqueue, () => 1, metrics, clock, new RecordingLogger());

        var running = Task.Run(() => loop.RunAsync(stop.Token));
        var backoff = await clock.Timers.Reader.ReadAsync().AsTask().WithTimeout("the wait after the failed accept");
        backoff.ShouldBe(AcceptLoop.FirstBackoff);
        clock.Advance(backoff);
        // The second accept needs no token more than the first took: it comes after the backoff, not a second later.
        await Eventually.TrueAsync(() => handled.Count == 1, "the client accepted after the backoff, the clock not moved on");
        await stop.CancelAsync();
        await running.WithTimeout("the accept loop to stop");
        handled.ShouldBe([accepted]);
        Volatile.Read(ref calls).ShouldBe(2);
    }

    /// <summary>A manual clock that tells each timer started on it (Task.Delay's), with its due time.</summary>
    private sealed class WatchedClock : TimeProvider
    {
        private readonly ManualTimeProvider _clock = new();

        public Channel<TimeSpan> Timers { get; } = Channel.CreateUnbounded<TimeSpan>();

        public void Advance(TimeSpan by) => _clock.Advance(by);

        public override DateTimeOffset GetUtcNow() => _clock.GetUtcNow();

        public override long GetTimestamp() => _clock.GetTimestamp();

        public override long TimestampFrequency => _clock.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Timers.Writer.TryWrite(dueTime);
            return _clock.CreateTimer(callback, state, dueTime, period);
        }
    }
}
