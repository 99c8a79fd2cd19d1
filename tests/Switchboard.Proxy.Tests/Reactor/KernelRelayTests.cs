using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Switchboard.Proxy.Hosting;
using Switchboard.Reactor.Kernel;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;
using static Switchboard.Proxy.Tests.Reactor.ReactorRelayTests;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>
/// What is particular to the kernel relay (<c>Proxy:KernelRelay</c>): tunnels are handed to it, the bytes it moved are
/// counted, and the idle sweep sees traffic the proxy itself never reads. <see cref="ReactorRelayTests"/> checks the
/// bytes themselves, with the kernel relay and without.
/// </summary>
public sealed class KernelRelayTests
{
    [Fact]
    public async Task ATunnel_IsHandedToTheKernel_AndTheBytesItMovedAreCountedWhenItEnds()
    {
        if (!KernelRelayAvailable())
        {
            return;
        }
        var toClient = RandomNumberGenerator.GetBytes(1 << 20);
        var toBackend = RandomNumberGenerator.GetBytes(256 << 10);
        byte[]? backendGot = null;
        await using var backend = RawBackend.Start(async socket =>
        {
            backendGot = await ReadAllBytesAsync(socket);
            await socket.SendAsync(toClient, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay: true));
        proxy.KernelRelayOn.ShouldBeTrue();

        using var client = await DialAsync(proxy);
        await client.SendAsync(toBackend, SocketFlags.None).WaitAsync(Patience);
        client.Shutdown(SocketShutdown.Send);
        var clientGot = await ReadAllBytesAsync(client).WaitAsync(Patience);

        SHA256.HashData(clientGot).ShouldBe(SHA256.HashData(toClient));
        SHA256.HashData(backendGot!).ShouldBe(SHA256.HashData(toBackend));
        await WaitAsync(() => proxy.Connections == 0, "the finished tunnel to be let go");
        proxy.Metrics.KernelRelayedCount.ShouldBe(1);
        proxy.Metrics.BytesRelayed.ShouldBe((toBackend.Length, toClient.Length));
    }

    [Fact]
    public async Task TheIdleSweep_SeesTrafficOnlyTheKernelRelayed_AndClosesOnlyTheTunnelWithoutAny()
    {
        if (!KernelRelayAvailable())
        {
            return;
        }
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        var options = TcpOptions(backend, kernelRelay: true);
        options.IdleTimeout = TimeSpan.FromSeconds(4);
        // The proxy's clock moves only here, so a machine that stalls the test for longer than the timeout cannot make
        // the active tunnel look idle: the sweeps run inside Advance, each after the bytes of its round went by.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = await ProxyServer.StartAsync(options, timeProvider: clock);
        using var active = await DialAsync(proxy);
        using var idle = await DialAsync(proxy);
        await WaitAsync(() => proxy.Metrics.KernelRelayedCount == 2, "both tunnels handed to the kernel");
        var idleEnded = ReadAllBytesAsync(idle);

        // An echo, whose bytes pass only through the kernel, then half an idle timeout, for three idle timeouts: the
        // idle tunnel goes, and the active one must live through all of them.
        var echo = new byte[1];
        for (var round = 0; round < 6; round++)
        {
            await active.SendAsync(new[] { (byte)round }, SocketFlags.None).WaitAsync(Patience);
            (await active.ReceiveAsync(echo, SocketFlags.None).WaitAsync(Patience)).ShouldBe(1);
            echo[0].ShouldBe((byte)round);
            clock.Advance(options.IdleTimeout / 2);
        }

        (await idleEnded.WaitAsync(Patience)).ShouldBeEmpty();
        await active.SendAsync("!"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        (await active.ReceiveAsync(echo, SocketFlags.None).WaitAsync(Patience)).ShouldBe(1);
        echo[0].ShouldBe((byte)'!');
        await WaitAsync(() => proxy.Connections == 1, "only the idle tunnel to be let go");
    }

    [Fact]
    public async Task AfterTheClientsHalfClose_TheBackendsLastBytes_ArriveWholeAndInOrder()
    {
        if (!KernelRelayAvailable())
        {
            return;
        }
        // The client closes its side at once, so the proxy half-closes its socket to the backend while the kernel is
        // relaying megabytes the other way. A FIN arriving on a half-closed socket ends it at once, and if the socket
        // were still in the kernel's maps, bytes that came in the FIN's segment could be lost (they were, in 2 of 14
        // runs): the tail is corked so that it rides in that segment. The rest of the tunnel must come whole and in
        // order, whoever relays it.
        var before = RandomNumberGenerator.GetBytes(16 << 20);
        var after = RandomNumberGenerator.GetBytes(16 << 20);
        var tail = "THE END"u8.ToArray();
        await using var backend = RawBackend.Start(async socket =>
        {
            var sending = socket.SendAsync(before, SocketFlags.None);
            (await ReadAllBytesAsync(socket)).ShouldBeEmpty();
            await sending;
            await socket.SendAsync(after, SocketFlags.None);
            // Corked, the tail waits in the send queue, and the FIN rides on its segment.
            socket.SetRawSocketOption(IpProtoTcp, TcpCork, BitConverter.GetBytes(1));
            await socket.SendAsync(tail, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay: true));
        using var client = await DialAsync(proxy);
        client.Shutdown(SocketShutdown.Send);

        var got = await ReadAllBytesAsync(client).WaitAsync(BulkPatience);

        got.Length.ShouldBe(before.Length + after.Length + tail.Length);
        SHA256.HashData(got).ShouldBe(SHA256.HashData([.. before, .. after, .. tail]));
        await WaitAsync(() => proxy.Connections == 0, "the finished tunnel to be let go");
        proxy.Metrics.BytesRelayed.ShouldBe((0, got.Length));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BytesRightBehindEitherHead_GoFirst_AndTheTunnelCarriesOnAfterThem(bool kernelRelay)
    {
        // The backend answers with bytes glued to its 101, and the client sends bytes glued to its request: the
        // handshake reads both, and with the kernel relay the hand-over must put them before anything relayed later.
        await using var backend = RawBackend.Start(async socket =>
        {
            var request = new List<byte>();
            var buffer = new byte[4096];
            while (!Encoding.Latin1.GetString([.. request]).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
                read.ShouldBePositive();
                request.AddRange(buffer.AsSpan(0, read).ToArray());
            }
            // The client's bytes glued to its request wait for the 101 (they belong to the tunnel only after it): on a
            // failure here the backend hangs up, and the client sees no 101.
            Encoding.Latin1.GetString([.. request]).ShouldEndWith("\r\n\r\n");
            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY"), SocketFlags.None);
            await RawBackend.EchoAsync(socket);
        });
        await using var proxy = await ProxyServer.StartAsync(new ProxyOptions
        {
            Listen = "127.0.0.1:0",
            Backends = [$"ws://{backend.EndPoint}"],
            KernelRelay = kernelRelay,
        });

        using var client = await DialAsync(proxy);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nPIPELINED"), SocketFlags.None).WaitAsync(Patience);

        (await Tunnel.TunnelTests.ReadHeadAsync(client)).ShouldStartWith("HTTP/1.1 101 ");
        (await ReadExactlyAsync(client, "EARLYPIPELINED".Length)).ShouldBe("EARLYPIPELINED");
        await client.SendAsync("LATER"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        (await ReadExactlyAsync(client, "LATER".Length)).ShouldBe("LATER");
        client.Shutdown(SocketShutdown.Send);
        (await ReadAllBytesAsync(client).WaitAsync(Patience)).ShouldBeEmpty();
        proxy.Metrics.KernelRelayedCount.ShouldBe(kernelRelay && proxy.KernelRelayOn ? 1 : 0);
    }

    [Fact]
    public async Task APairThatIsNotIPv4_IsLeftToTheProxy()
    {
        using var relay = KernelRelay.TryCreate(16, out var unavailable);
        if (relay is null)
        {
            ShouldBeUnavailableHere(unavailable);
            return;
        }
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen();
        using var dialled = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await dialled.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Patience);
        using var accepted = await listener.AcceptAsync().WaitAsync(Patience);

        relay.TryJoin(accepted, dialled, out var failure).ShouldBeFalse();
        failure.ShouldBe("not an IPv4 TCP pair");
    }

    [Fact]
    public async Task ATunnelTheKernelCannotTake_IsRelayedByTheProxy_AndCounted()
    {
        if (!KernelRelayAvailable())
        {
            return;
        }
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        var options = TcpOptions(backend, kernelRelay: true);
        // An IPv6 client in front of an IPv4 backend: the kernel relay's maps hold IPv4 pairs only.
        options.Listen = "[::1]:0";
        await using var proxy = await ProxyServer.StartAsync(options);
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);

        await client.SendAsync("over ipv6"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);

        (await ReadExactlyAsync(client, "over ipv6".Length)).ShouldBe("over ipv6");
        proxy.Metrics.KernelDeclinedCount.ShouldBe(1);
        proxy.Metrics.KernelRelayedCount.ShouldBe(0);
    }

    private static async Task<string> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        for (var got = 0; got < count;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(Patience);
            read.ShouldBePositive("the tunnel ended early");
            got += read;
        }
        return Encoding.ASCII.GetString(buffer);
    }

    private const int IpProtoTcp = 6;
    private const int TcpCork = 3;

    /// <summary>
    /// Whether this machine lets the proxy load its eBPF program. Where it does not, that must be for want of the
    /// right or of kernel support, never because the kernel refused the program.
    /// </summary>
    private static bool KernelRelayAvailable()
    {
        using var relay = KernelRelay.TryCreate(16, out var unavailable);
        if (relay is null)
        {
            ShouldBeUnavailableHere(unavailable);
        }
        return relay is not null;
    }

    private static void ShouldBeUnavailableHere(string? unavailable) =>
        unavailable.ShouldNotBeNull().ShouldMatch("EPERM|ENOSYS|needs Linux", $"the kernel relay failed for another reason: {unavailable}");
}
