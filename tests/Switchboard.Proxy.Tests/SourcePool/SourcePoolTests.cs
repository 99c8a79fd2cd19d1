using System.Net;
using System.Net.Sockets;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.SourcePool;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.SourcePool;

public sealed class SourcePoolTests
{
    [Fact]
    public async Task UpstreamConnections_BindToTheSourceAddressesInTurn()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.SourceAddresses = ["127.0.0.2-127.0.0.4"];
        await using var proxy = await ProxyServer.StartAsync(options);

        var sockets = new List<System.Net.WebSockets.ClientWebSocket>();
        for (var i = 0; i < 6; i++)
        {
            sockets.Add(await ConnectAsync(proxy));
        }

        backend.Requests.Select(r => r.RemoteAddress.ToString()).ShouldBe(
            ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        sockets.ForEach(s => s.Dispose());
    }

    [Fact]
    public async Task BindingToASourceAddress_LeavesThePortToTheConnect()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // IP_BIND_ADDRESS_NO_PORT is Linux's; elsewhere the bind picks the port
        }
        var firstPeer = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondPeer = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var first = RawBackend.Start(socket => RecordPeerAsync(socket, firstPeer));
        await using var second = RawBackend.Start(socket => RecordPeerAsync(socket, secondPeer));
        var source = IPAddress.Parse("127.0.0.2");
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        UpstreamDialer.BindToSource(a, source);
        UpstreamDialer.BindToSource(b, source);

        // Bound to the address only: no port is taken yet from one pool shared by every destination of the address.
        ((IPEndPoint)a.LocalEndPoint!).ShouldBe(new IPEndPoint(source, 0));
        ((IPEndPoint)b.LocalEndPoint!).ShouldBe(new IPEndPoint(source, 0));
        await a.ConnectAsync(first.EndPoint).WaitAsync(Patience);
        await b.ConnectAsync(second.EndPoint).WaitAsync(Patience);
        // The connect picked the port (as the backends see the connections; .NET keeps the bound end point it read).
        foreach (var peer in new[] { await firstPeer.Task.WaitAsync(Patience), await secondPeer.Task.WaitAsync(Patience) })
        {
            peer.Address.ShouldBe(source);
            peer.Port.ShouldNotBe(0);
        }

        if (Socket.OSSupportsIPv6)
        {
            // The option is set at the IP level for IPv6 sockets too.
            using var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            UpstreamDialer.BindToSource(v6, IPAddress.IPv6Loopback);
            ((IPEndPoint)v6.LocalEndPoint!).ShouldBe(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        }
    }

    private static Task RecordPeerAsync(Socket socket, TaskCompletionSource<IPEndPoint> peer)
    {
        peer.TrySetResult((IPEndPoint)socket.RemoteEndPoint!);
        return RawBackend.EchoAsync(socket);
    }

    [Fact]
    public async Task ASourceAddressThatCannotBeBound_FailsTheClientWith503_AndIsNotChargedToTheBackend()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        // TEST-NET-1: on no interface of this machine, so the bind fails (EADDRNOTAVAIL) before any packet is sent.
        options.SourceAddresses = ["192.0.2.1"];
        options.PassiveFall = 1;
        options.PassiveEjectionTime = TimeSpan.FromMinutes(1);
        options.Admin = "127.0.0.1:0";
        await using var proxy = await ProxyServer.StartAsync(options);

        for (var i = 0; i < 3; i++)
        {
            var answer = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());
            answer.ShouldStartWith("HTTP/1.1 503 ");
            answer.ShouldContain("the proxy cannot open a connection now");
        }

        var status = proxy.Backends.Single();
        status.State.ShouldBe("up");
        status.DialFailures.ShouldBe(0);
        backend.Accepted.ShouldBe(0);
        using var http = new HttpClient { Timeout = Patience };
        var metrics = await http.GetStringAsync($"http://{proxy.AdminEndPoint}/metrics");
        metrics.ShouldContain($"switchboard_proxy_local_dial_failures_total {3 * options.MaxDialAttempts}\n");
    }

    [Fact]
    public async Task WithASourcePool_ADialToADeadPort_StillEjectsTheBackend()
    {
        var options = new ProxyOptions { Listen = "127.0.0.1:0", Backends = ["ws://127.0.0.1:1"], SourceAddresses = ["127.0.0.2"], PassiveFall = 1 };
        options.PassiveEjectionTime = TimeSpan.FromMinutes(1);
        await using var proxy = await ProxyServer.StartAsync(options);

        var answer = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());

        answer.ShouldStartWith("HTTP/1.1 502 ");
        proxy.Backends.Single().State.ShouldBe("ejected");
    }

    [Theory]
    [InlineData(SocketError.SocketError)] // EAI_SYSTEM: no descriptor left for the resolver's socket or /etc/hosts
    [InlineData(SocketError.TooManyOpenSockets)]
    [InlineData(SocketError.NoBufferSpaceAvailable)]
    public async Task AResolverThatFailsForWantOfTheProxysResources_IsALocalFailure(SocketError error)
    {
        var e = await Should.ThrowAsync<LocalDialException>(() =>
            UpstreamDialer.ResolveAsync("node-1.internal", (_, _) => throw new SocketException((int)error), CancellationToken.None));
        e.Error.ShouldBe(error);
        e.Message.ShouldContain("resolve node-1.internal");
        // .NET's answer to EAI_MEMORY.
        await Should.ThrowAsync<LocalDialException>(() =>
            UpstreamDialer.ResolveAsync("node-1.internal", (_, _) => throw new OutOfMemoryException(), CancellationToken.None));
    }

    [Theory]
    [InlineData(SocketError.HostNotFound)]
    [InlineData(SocketError.NoData)]
    [InlineData(SocketError.TryAgain)]
    public async Task ANameThatDoesNotResolve_IsTheBackendsFailure(SocketError error)
    {
        var e = await Should.ThrowAsync<SocketException>(() =>
            UpstreamDialer.ResolveAsync("gone.internal", (_, _) => throw new SocketException((int)error), CancellationToken.None));
        e.SocketErrorCode.ShouldBe(error);
        (await Should.ThrowAsync<SocketException>(() =>
            UpstreamDialer.ResolveAsync("empty.internal", (_, _) => Task.FromResult(Array.Empty<IPAddress>()), CancellationToken.None))).SocketErrorCode.ShouldBe(SocketError.HostNotFound);
        (await UpstreamDialer.ResolveAsync("localhost", Dns.GetHostAddressesAsync, CancellationToken.None)).ShouldNotBeNull();
    }

    [Fact]
    public void Pool_ParsesRangesAndLists_AndRefusesNonsense()
    {
        SourceAddressPool.Parse(["127.0.0.2-127.0.0.4", "127.0.1.1,127.0.1.2"])!.Addresses.Select(a => a.ToString())
            .ShouldBe(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1", "127.0.1.2"]);
        SourceAddressPool.Parse([]).ShouldBeNull();
        Should.Throw<FormatException>(() => SourceAddressPool.Parse(["127.0.0.9-127.0.0.2"]));
        Should.Throw<FormatException>(() => SourceAddressPool.Parse(["nope"]));
        new SourceAddressPool([IPAddress.IPv6Loopback]).Next(System.Net.Sockets.AddressFamily.InterNetwork).ShouldBeNull();
    }
}
