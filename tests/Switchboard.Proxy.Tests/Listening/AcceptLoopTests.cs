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
        var handled = new List<Socket>();
        var calls = new List<DateTimeOffset>();
        // Five accepts fail (EMFILE, ENFILE alike, then ENOBUFS), one works, the next fails again, then the backlog is empty.
        var script = new SocketError?[]
        {
            SocketError.TooManyOpenSockets, SocketError.TooManyOpenSockets, SocketError.TooManyOpenSockets, SocketError.NoBufferSpaceAvailable,
            SocketError.TooManyOpenSockets, null, SocketError.TooManyOpenSockets,
        };
        async ValueTask<Socket> AcceptAsync(CancellationToken token)
        {
            calls.Add(clock.GetUtcNow());
            if (calls.Count > script.Length)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            return script[calls.Count - 1] is { } error ? throw new SocketException((int)error) : accepted;
        }
        var loop = new AcceptLoop(AcceptAsync, handled.Add, () => 0, metrics, clock, log);

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
        calls[1].ShouldBe(calls[0] + TimeSpan.FromMilliseconds(10)); // not before
        metrics.AcceptBackoffs.ShouldBe(6);
        log.Count("AcceptBackingOff").ShouldBe(1); // all within one second: the rest are held back and counted
    }

    [Fact]
    public async Task AnAcceptFailingForAnotherReason_IsRetriedAtOnce()
    {
        var clock = new WatchedClock();
        using var metrics = new ProxyMetrics(null, () => 0, () => []);
        using var stop = new CancellationTokenSource();
        var calls = 0;
        async ValueTask<Socket> AcceptAsync(CancellationToken token)
        {
            if (++calls > 3)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            throw new SocketException((int)SocketError.ConnectionAborted); // a client that reset before it was taken
        }
        var loop = new AcceptLoop(AcceptAsync, _ => { }, () => 0, metrics, clock, new RecordingLogger());

        var running = Task.Run(() => loop.RunAsync(stop.Token));
        await Eventually.TrueAsync(() => calls == 4, "three failed accepts and a fourth, without the clock moving");
        await stop.CancelAsync();
        await running.WithTimeout("the accept loop to stop");
        metrics.AcceptBackoffs.ShouldBe(0);
        clock.Timers.Reader.Count.ShouldBe(0);
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
