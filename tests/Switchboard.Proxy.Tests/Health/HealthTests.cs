using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Health;

public sealed class HealthTests
{
    [Fact]
    public async Task BackendFailingHealthChecks_IsEjected_KeepsItsTunnels_AndComesBackAfterRise()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = WithChecks(b1, b2);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var onB1 = await ConnectAsync(proxy);
        (await onB1.WhoAmIAsync()).ShouldBe("b1");

        b1.Healthy = false;
        await WaitAsync(() => State(proxy, b1) == "ejected", "b1 to be ejected by its health checks");
        for (var i = 0; i < 4; i++)
        {
            using var socket = await ConnectAsync(proxy);
            (await socket.WhoAmIAsync()).ShouldBe("b2");
        }
        (await onB1.WhoAmIAsync()).ShouldBe("b1"); // established tunnels continue

        b1.Healthy = true;
        await WaitAsync(() => State(proxy, b1) == "up", "b1 to come back after two passing checks");
        var names = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var socket = await ConnectAsync(proxy);
            names.Add(await socket.WhoAmIAsync());
        }
        names.ShouldContain("b1");
    }

    [Fact]
    public async Task BackendEjectedByChecks_IsRetried_OnceAReloadTurnsTheChecksOff()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = WithChecks(b1, b2);
        await using var proxy = await ProxyServer.StartAsync(options);
        b1.Healthy = false;
        await WaitAsync(() => State(proxy, b1) == "ejected", "b1 to be ejected by its health checks");

        var reloaded = Options(b1, b2);
        reloaded.Listen = options.Listen;
        reloaded.PassiveEjectionTime = TimeSpan.FromMilliseconds(100);
        proxy.Reload(reloaded);

        // No check runs any more; after the ejection time a dial to b1 is tried again, works, and brings it back.
        var deadline = DateTime.UtcNow + Eventually.DefaultTimeout;
        string who;
        do
        {
            using var socket = await ConnectAsync(proxy);
            who = await socket.WhoAmIAsync();
        }
        while (who != "b1" && DateTime.UtcNow < deadline);
        who.ShouldBe("b1", "a tunnel to b1 again once its ejection time has passed");
        State(proxy, b1).ShouldBe("up");
    }

    [Fact]
    public async Task BackendEjectedByChecks_ThatAReloadRemovesAndTheNextBringsBack_StartsAfresh_KeepingOnlyItsTunnelCount()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = WithChecks(b1, b2);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var onB1 = await ConnectAsync(proxy);
        (await onB1.WhoAmIAsync()).ShouldBe("b1");
        b1.Healthy = false;
        await WaitAsync(() => State(proxy, b1) == "ejected", "b1 to be ejected by its health checks");

        // Reload 1 drops b1 (its tunnel goes on) and turns the checks off; reload 2 adds b1 back, still without checks.
        var withoutB1 = Options(b2);
        withoutB1.Listen = options.Listen;
        proxy.Reload(withoutB1);
        var withB1 = Options(b1, b2);
        withB1.Listen = options.Listen;
        proxy.Reload(withB1);

        State(proxy, b1).ShouldBe("up", "a backend a reload adds starts as a new one: no check is left to end its old ejection");
        proxy.Backends.Single(b => b.Backend == b1.Url.Authority).Connections.ShouldBe(1, "the tunnel opened before the reloads");
        var names = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var socket = await ConnectAsync(proxy);
            names.Add(await socket.WhoAmIAsync());
        }
        names.ShouldContain("b1");
    }

    [Fact]
    public async Task BackendFailingHealthChecks_IsEjected_WhileDialsToItKeepSucceeding()
    {
        await using var sick = await TestBackend.StartAsync("sick");
        await using var well = await TestBackend.StartAsync("well");
        var options = Options(sick, well);
        options.HealthCheck = new HealthCheckOptions { Path = "/healthz", Interval = TimeSpan.FromMilliseconds(50), Rise = 2, Fall = 3 };
        await using var proxy = await ProxyServer.StartAsync(options);

        // Tunnels open back to back, so successful dials to the sick backend fall between every two of its checks.
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var socket = await ConnectAsync(proxy);
                await socket.WhoAmIAsync();
            }
        });
        var acceptedWhileSick = 0;
        try
        {
            await WaitAsync(() => sick.Accepted >= 10 || traffic.IsCompleted, "tunnels to flow to both backends");
            var acceptedBefore = sick.Accepted;
            sick.Healthy = false; // its /healthz answers 503 from now on, yet it still accepts upgrades
            await WaitAsync(() => State(proxy, sick) == "ejected" || traffic.IsCompleted, "the sick backend to be ejected by its health checks");
            acceptedWhileSick = sick.Accepted - acceptedBefore;
        }
        finally
        {
            await stop.CancelAsync();
        }
        await traffic.WaitAsync(Patience);

        State(proxy, sick).ShouldBe("ejected");
        acceptedWhileSick.ShouldBeGreaterThan(0); // dials to it worked while its checks failed
        using var next = await ConnectAsync(proxy);
        (await next.WhoAmIAsync()).ShouldBe("well");
    }

    [Fact]
    public void ActiveAndPassiveCounts_AreKeptApart()
    {
        var backend = new Backend("a", new Uri("ws://a:1"), 1);

        // A working dial between failed checks does not reset their count.
        backend.ReportCheckFailed(fall: 3).ShouldBeFalse();
        backend.ReportDialSucceeded().ShouldBeFalse();
        backend.ReportCheckFailed(fall: 3).ShouldBeFalse();
        backend.ReportDialSucceeded().ShouldBeFalse();
        backend.ReportCheckFailed(fall: 3).ShouldBeTrue();
        backend.State.ShouldBe(BackendState.Ejected);

        backend.ReportCheckPassed(rise: 2).ShouldBeFalse();
        backend.ReportCheckPassed(rise: 2).ShouldBeTrue();
        backend.State.ShouldBe(BackendState.Up);

        // Nor does a passing check reset the count of failed dials.
        backend.ReportPassiveFailure(fall: 2, DateTimeOffset.MaxValue, isDial: true).ShouldBeFalse();
        backend.ReportCheckPassed(rise: 2).ShouldBeFalse();
        backend.ReportPassiveFailure(fall: 2, DateTimeOffset.MaxValue, isDial: true).ShouldBeTrue();
        backend.State.ShouldBe(BackendState.Ejected);
    }

    [Fact]
    public async Task FailedDials_EjectABackendPassively_ClientsGoElsewhereUnnoticed()
    {
        await using var live = await TestBackend.StartAsync("live");
        var options = Options(live);
        options.Backends.Insert(0, "ws://127.0.0.1:1");
        options.PassiveFall = 2;
        options.PassiveEjectionTime = TimeSpan.FromMinutes(1);
        await using var proxy = await ProxyServer.StartAsync(options);

        for (var i = 0; i < 6; i++)
        {
            using var socket = await ConnectAsync(proxy);
            (await socket.WhoAmIAsync()).ShouldBe("live");
        }

        var dead = proxy.Backends.Single(b => b.Backend == "127.0.0.1:1");
        dead.State.ShouldBe("ejected");
        dead.DialFailures.ShouldBe(2); // ejected after two, never dialled again
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ClientsThatLeave_AbruptlyOrWithACloseHandshake_DoNotCountAgainstTheBackend(bool abruptly)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.PassiveFall = 1;
        await using var proxy = await ProxyServer.StartAsync(options);

        for (var i = 0; i < 8; i++)
        {
            using var socket = await ConnectAsync(proxy);
            (await socket.WhoAmIAsync()).ShouldBe("b1");
            if (abruptly)
            {
                socket.Abort(); // no close handshake: the backend may answer the lost client with a reset
            }
            else
            {
                // In a close handshake the server closes the TCP connection first (RFC 6455 7.1.1): the backend's end
                // comes before the client's, and that is no failure.
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Patience);
            }
            await WaitAsync(() => proxy.Connections == 0, "the tunnel to end");
        }

        proxy.Backends.Single().State.ShouldBe("up");
    }

    [Fact]
    public async Task BackendThatBreaksAnEstablishedTunnel_IsEjectedPassively()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = Options(b1, b2);
        options.PassiveFall = 1;
        options.PassiveEjectionTime = TimeSpan.FromMinutes(1);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var onB1 = await ConnectAsync(proxy);
        (await onB1.WhoAmIAsync()).ShouldBe("b1");

        await onB1.SendTextAsync("abort");

        await WaitAsync(() => proxy.Backends.Single(b => b.Backend == b1.Url.Authority).State == "ejected", "b1 to be ejected after breaking a tunnel");
        using var next = await ConnectAsync(proxy);
        (await next.WhoAmIAsync()).ShouldBe("b2");
    }

    [Fact]
    public void PassivelyEjectedBackend_WithoutActiveChecks_IsRetriedAfterTheEjectionTime()
    {
        var clock = new Switchboard.Tests.Common.ManualTimeProvider();
        var backend = new Backend("a", new Uri("ws://a:1"), 1);

        backend.ReportPassiveFailure(fall: 1, retryAt: clock.GetUtcNow() + TimeSpan.FromSeconds(10), isDial: true).ShouldBeTrue();
        backend.IsAvailable(clock.GetUtcNow()).ShouldBeFalse();
        clock.Advance(TimeSpan.FromSeconds(10));
        backend.IsAvailable(clock.GetUtcNow()).ShouldBeTrue();
        backend.ReportDialSucceeded().ShouldBeTrue();
        backend.State.ShouldBe(BackendState.Up);
    }

    private static string State(ProxyServer proxy, TestBackend backend) =>
        proxy.Backends.Single(b => b.Url.TrimEnd('/') == backend.Spec).State;

    /// <summary>Options for the backends with checks of /healthz every 50 ms, two to rise and two to fall.</summary>
    private static ProxyOptions WithChecks(params TestBackend[] backends)
    {
        var options = Options(backends);
        options.HealthCheck = new HealthCheckOptions { Path = "/healthz", Interval = TimeSpan.FromMilliseconds(50), Rise = 2, Fall = 2 };
        return options;
    }
}
