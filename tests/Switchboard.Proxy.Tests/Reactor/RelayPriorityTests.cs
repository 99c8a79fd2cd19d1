using Switchboard.Proxy.Hosting;
using Switchboard.Reactor;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>Proxy:RelayPriority: the threads that relay tunnels under the real-time FIFO scheduler, or the normal one.</summary>
[Collection(RealtimeCollection.Name)]
public sealed class RelayPriorityTests
{
    private const int SchedOther = 0;
    private const int SchedFifo = 1;

    [Theory]
    [InlineData(0, 1)]
    [InlineData(2, 2)]
    public async Task ARelayPriority_PutsEveryRelayThreadUnderTheFifoScheduler_OneUnlessToldMore_AndTunnelsRelayAsBefore(int relayThreads, int expected)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        var options = Options(backend);
        options.RelayPriority = 10;
        options.RelayThreads = relayThreads;
        await using var proxy = await ProxyServer.StartAsync(options, loggerFactory: new RecordingLoggerFactory(logger));

        var threads = await proxy.RelayThreads.WaitAsync(Patience);
        // Under a real-time priority one thread is served at once; more would only let a saturated relay take more cores.
        threads.Length.ShouldBe(expected);
        // Whether this process may have it at all (root alone is not enough: CAP_SYS_NICE and a real-time budget are),
        // asked on a thread of the test's own, which ends with the answer.
        if (await MayRunRealtimeAsync())
        {
            threads.ShouldAllBe(t => t.PriorityRefused == null);
            threads.Select(t => SchedulingOf(t.ThreadId)).ShouldBe(Enumerable.Repeat((SchedFifo, 10), threads.Length));
            logger.Entries.ShouldContain(e => e.EventName == "RelayPriorityOn" && e.Message.Contains($"({threads.Length}) at real-time priority 10"));
        }
        else
        {
            // Without the right to it the proxy says why and relays at normal priority.
            threads[0].PriorityRefused.ShouldNotBeNullOrEmpty();
            threads.Select(t => SchedulingOf(t.ThreadId).Policy).ShouldAllBe(p => p == SchedOther);
            logger.Entries.ShouldContain(e => e.EventName == "RelayPriorityRefused" && e.Message.Contains(threads[0].PriorityRefused!));
        }
        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
        await socket.SendTextAsync("through a real-time relay");
        (await socket.ReceiveTextAsync()).ShouldBe("through a real-time relay");
    }

    [Fact]
    public async Task ByDefault_TheRelayThreadsStayUnderTheNormalScheduler()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        await using var proxy = await ProxyServer.StartAsync(Options(backend), loggerFactory: new RecordingLoggerFactory(logger));

        var threads = await proxy.RelayThreads.WaitAsync(Patience);

        threads.ShouldAllBe(t => t.PriorityRefused == null);
        threads.Select(t => SchedulingOf(t.ThreadId)).ShouldBe(Enumerable.Repeat((SchedOther, 0), threads.Length));
        logger.Entries.ShouldNotContain(e => e.EventName == "RelayPriorityOn" || e.EventName == "RelayPriorityRefused");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(100)]
    public async Task APriorityOutsideWhatLinuxTakes_IsRefusedAtStart_NamingTheKey(int priority)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.RelayPriority = priority;

        var error = await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(options));

        error.Message.ShouldBe($"Proxy:RelayPriority (--relay-priority) must be 0 (the normal scheduler) or a real-time priority from 1 to 99 (is {priority}).");
    }

    [Fact]
    public void FailoverMode_RefusesARelayPriority_SinceItHasNoRelayThread()
    {
        var options = new ProxyOptions { Listen = "127.0.0.1:0", Mode = ProxyModes.Failover, Gateway = "http://127.0.0.1:7000", Backends = ["ws://127.0.0.1:7001/v1/ws"], RelayPriority = 10 };

        Should.Throw<ArgumentException>(() => ProxySettings.Resolve(options)).Message
            .ShouldBe("Proxy:RelayPriority (--relay-priority) is for tunnel and tcp mode: failover mode terminates WebSocket on .NET's sockets and has no relay thread.");
    }

    [Fact]
    public async Task AReload_ThatChangesThePriority_SaysItTakesARestart()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        await using var proxy = await ProxyServer.StartAsync(Options(backend), loggerFactory: new RecordingLoggerFactory(logger));

        var changed = Options(backend);
        changed.RelayPriority = 10;
        proxy.Reload(changed);

        logger.Entries.ShouldContain(e => e.EventName == "ReloadNeedsRestart" && e.Message.Contains("Proxy:RelayPriority"));
        (await proxy.RelayThreads.WaitAsync(Patience)).Select(t => SchedulingOf(t.ThreadId).Policy).ShouldAllBe(p => p == SchedOther);
    }

    private static async Task<bool> MayRunRealtimeAsync()
    {
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => answer.SetResult(Native.SetRealtimePriority(10) is null)) { IsBackground = true }.Start();
        return await answer.Task.WaitAsync(Patience);
    }

    /// <summary>A thread's scheduling policy and real-time priority, fields 41 and 40 of its /proc stat line.</summary>
    private static (int Policy, int Priority) SchedulingOf(int threadId)
    {
        var stat = File.ReadAllText($"/proc/self/task/{threadId}/stat");
        // Fields after the command name in parentheses (which may hold spaces) start at field 3.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (int.Parse(fields[41 - 3], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[40 - 3], System.Globalization.CultureInfo.InvariantCulture));
    }
}
