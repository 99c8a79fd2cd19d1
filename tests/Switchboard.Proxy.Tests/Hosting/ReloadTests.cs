using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Listening;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Hosting;

public sealed class ReloadTests
{
    [Fact]
    public async Task Reload_SwitchesBackendsAndPolicy_WithoutDroppingEstablishedTunnels()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = Options(b1);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var onB1 = await ConnectAsync(proxy);
        (await onB1.WhoAmIAsync()).ShouldBe("b1");

        proxy.Reload(new ProxyOptions { Listen = options.Listen, Backends = [b2.Spec], Policy = "least-connections" });

        proxy.Policy.ShouldBe("least-connections");
        proxy.Backends.Select(b => b.Backend).ShouldBe([b2.Url.Authority]);
        using (var onB2 = await ConnectAsync(proxy))
        {
            (await onB2.WhoAmIAsync()).ShouldBe("b2");
        }
        (await onB1.WhoAmIAsync()).ShouldBe("b1");
        proxy.Connections.ShouldBeGreaterThanOrEqualTo(1);
    }

    [Fact]
    public async Task ABackendThatAReloadRemovesAndTheNextBringsBack_WhileATunnelToItIsOpen_StillCountsThatTunnel()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var b2 = await TestBackend.StartAsync("b2");
        var options = Options(b1);
        await using var proxy = await ProxyServer.StartAsync(options);
        var onB1 = await ConnectAsync(proxy);
        (await onB1.WhoAmIAsync()).ShouldBe("b1");

        proxy.Reload(new ProxyOptions { Listen = options.Listen, Backends = [b2.Spec] });
        proxy.Reload(new ProxyOptions { Listen = options.Listen, Backends = [b1.Spec, b2.Spec], Policy = "least-connections" });

        proxy.Backends.Single(b => b.Backend == b1.Url.Authority).Connections.ShouldBe(1, "the tunnel opened before the reloads");
        using (var socket = await ConnectAsync(proxy))
        {
            (await socket.WhoAmIAsync()).ShouldBe("b2");
        }
        onB1.Abort();
        onB1.Dispose();
        await WaitAsync(() => proxy.Backends.All(b => b.Connections == 0), "every count back to 0 once every tunnel ended");
    }

    [Fact]
    public async Task InvalidReload_IsRefused_AndTheRunningConfigurationStays()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var proxy = await ProxyServer.StartAsync(Options(b1));

        var e = Should.Throw<ArgumentException>(() => proxy.Reload(new ProxyOptions { Listen = "127.0.0.1:0", Backends = ["http://nope"] }));
        e.Message.ShouldContain("Proxy:Backends");

        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
    }

    [Fact]
    public async Task ReloadWithoutBackends_IsRefused_AndTheRunningConfigurationStays()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var proxy = await ProxyServer.StartAsync(Options(b1));

        var e = Should.Throw<ArgumentException>(() => proxy.Reload(new ProxyOptions { Listen = "127.0.0.1:0", Backends = [] }));
        e.Message.ShouldContain("no backends");

        proxy.Backends.Select(b => b.Backend).ShouldBe([b1.Url.Authority]);
        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
    }

    [Fact]
    public async Task Reload_KeepsTheMode_WhichNeedsARestart()
    {
        await using var b1 = await TestBackend.StartAsync("b1");
        await using var proxy = await ProxyServer.StartAsync(Options(b1));

        proxy.Reload(new ProxyOptions { Listen = "127.0.0.1:0", Mode = ProxyModes.Tcp, Backends = [b1.Spec] });

        proxy.Mode.ShouldBe(ProxyModes.Tunnel);
        proxy.Policy.ShouldBe("round-robin");
        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
    }

    [Fact]
    public void AcceptRateLimiter_AllowsABurstOfOneSecond_ThenPacesAccepts()
    {
        var clock = new ManualTimeProvider();
        var limiter = new AcceptRateLimiter(clock);

        for (var i = 0; i < 10; i++)
        {
            limiter.TakeOrWait(10).ShouldBe(TimeSpan.Zero);
        }
        limiter.TakeOrWait(10).ShouldBe(TimeSpan.FromMilliseconds(100));
        clock.Advance(TimeSpan.FromMilliseconds(100));
        limiter.TakeOrWait(10).ShouldBe(TimeSpan.Zero);
        limiter.TakeOrWait(0).ShouldBe(TimeSpan.Zero);
    }

    [Fact]
    public void AcceptRateLimiter_ARateBelowOnePerSecond_StillLetsClientsIn_OneEachSoManySeconds()
    {
        var clock = new ManualTimeProvider();
        var limiter = new AcceptRateLimiter(clock);

        limiter.TakeOrWait(0.5).ShouldBe(TimeSpan.Zero);
        limiter.TakeOrWait(0.5).ShouldBe(TimeSpan.FromSeconds(2));
        clock.Advance(TimeSpan.FromSeconds(2));
        limiter.TakeOrWait(0.5).ShouldBe(TimeSpan.Zero);
        limiter.Refund(0.5);
        limiter.TakeOrWait(0.5).ShouldBe(TimeSpan.Zero, "the refunded token");
    }

    [Fact]
    public async Task Options_AreValidatedWithTheKeyNamed()
    {
        (await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0" }))).Message.ShouldContain("--backend");
        (await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(new ProxyOptions { Listen = "nowhere", Backends = ["ws://127.0.0.1:9"] }))).Message.ShouldContain("Proxy:Listen");
        (await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0", Mode = "failover", Backends = ["ws://127.0.0.1:9"] }))).Message.ShouldContain("Proxy:Gateway");
        (await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0", Backends = ["ws://127.0.0.1:9,weight=0"] }))).Message.ShouldContain("weight=N");
        (await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0", Policy = "consistent-hash", HashOn = "body:x", Backends = ["ws://127.0.0.1:9"] }))).Message.ShouldContain("Proxy:HashOn");
    }
}
