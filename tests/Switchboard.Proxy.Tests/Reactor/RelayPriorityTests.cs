using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>Proxy:RelayPriority: the thread that relays tunnels under the real-time FIFO scheduler, or the normal one.</summary>
public sealed class RelayPriorityTests
{
    private const int SchedOther = 0;
    private const int SchedFifo = 1;

    [Fact]
    public async Task ARelayPriority_PutsTheRelayThreadUnderTheFifoScheduler_AndTunnelsRelayAsBefore()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        var options = Options(backend);
        options.RelayPriority = 10;
        await using var proxy = await ProxyServer.StartAsync(options, loggerFactory: new RecordingLoggerFactory(logger));

        var thread = await proxy.RelayThread.ShouldNotBeNull().WaitAsync(Patience);
        if (Environment.UserName == "root")
        {
            thread.PriorityRefused.ShouldBeNull();
            SchedulingOf(thread.ThreadId).ShouldBe((SchedFifo, 10));
            logger.Entries.ShouldContain(e => e.EventName == "RelayPriorityOn" && e.Message.Contains("priority 10"));
        }
        else
        {
            // Without the right to it the proxy says why and relays at normal priority.
            thread.PriorityRefused.ShouldNotBeNull().ShouldContain("EPERM");
            SchedulingOf(thread.ThreadId).Policy.ShouldBe(SchedOther);
            logger.Entries.ShouldContain(e => e.EventName == "RelayPriorityRefused");
        }
        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
        await socket.SendTextAsync("through a real-time relay");
        (await socket.ReceiveTextAsync()).ShouldBe("through a real-time relay");
    }

    [Fact]
    public async Task ByDefault_TheRelayThreadStaysUnderTheNormalScheduler()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        await using var proxy = await ProxyServer.StartAsync(Options(backend), loggerFactory: new RecordingLoggerFactory(logger));

        var thread = await proxy.RelayThread.ShouldNotBeNull().WaitAsync(Patience);

        thread.PriorityRefused.ShouldBeNull();
        SchedulingOf(thread.ThreadId).ShouldBe((SchedOther, 0));
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

    /// <summary>A thread's scheduling policy and real-time priority, fields 41 and 40 of its /proc stat line.</summary>
    private static (int Policy, int Priority) SchedulingOf(int threadId)
    {
        var stat = File.ReadAllText($"/proc/self/task/{threadId}/stat");
        // Fields after the command name in parentheses (which may hold spaces) start at field 3.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (int.Parse(fields[41 - 3], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[40 - 3], System.Globalization.CultureInfo.InvariantCulture));
    }
}
