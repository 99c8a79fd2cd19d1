using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>
/// The relay, in tcp mode so that the bytes are exactly what the test chooses: each test runs with the kernel relaying
/// the bytes (<c>Proxy:KernelRelay</c>) and with the proxy relaying them on its reactor thread.
/// </summary>
public sealed class ReactorRelayTests
{
    internal static readonly TimeSpan BulkPatience = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BulkBytesBothWays_ArriveIntact_WhenTheClientReadsOnlyAfterSendingEverything(bool kernelRelay)
    {
        // 8 MiB each way is far more than the sockets' buffers: the backend → client direction must hold back (the
        // relay stops reading the backend while the client does not read) and resume without losing a byte.
        var toClient = RandomNumberGenerator.GetBytes(8 << 20);
        var toBackend = RandomNumberGenerator.GetBytes(8 << 20);
        byte[]? backendGot = null;
        await using var backend = RawBackend.Start(async socket =>
        {
            var receive = ReadAllBytesAsync(socket);
            await socket.SendAsync(toClient, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
            backendGot = await receive;
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));

        using var client = await DialAsync(proxy);
        await client.SendAsync(toBackend, SocketFlags.None).WaitAsync(BulkPatience);
        client.Shutdown(SocketShutdown.Send);
        var clientGot = await ReadAllBytesAsync(client).WaitAsync(BulkPatience);

        SHA256.HashData(clientGot).ShouldBe(SHA256.HashData(toClient));
        await WaitAsync(() => backendGot is not null, "the backend read to the end");
        SHA256.HashData(backendGot!).ShouldBe(SHA256.HashData(toBackend));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HalfClose_IsPassedOn_AndTheOtherDirectionStillFinishes(bool kernelRelay)
    {
        var backendSaw = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = RawBackend.Start(async socket =>
        {
            // Reading to the end proves the client's half-close reached the backend as a FIN.
            var request = await ReadAllBytesAsync(socket);
            backendSaw.SetResult(Encoding.ASCII.GetString(request));
            await socket.SendAsync("bye"u8.ToArray(), SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));

        using var client = await DialAsync(proxy);
        await client.SendAsync("hello"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        client.Shutdown(SocketShutdown.Send);

        (await backendSaw.Task.WaitAsync(Patience)).ShouldBe("hello");
        Encoding.ASCII.GetString(await ReadAllBytesAsync(client).WaitAsync(Patience)).ShouldBe("bye");
        await WaitAsync(() => proxy.Connections == 0, "the proxy let the finished tunnel go");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ManyTunnelsAtOnce_EachGetsExactlyItsOwnBytes(bool kernelRelay)
    {
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));

        await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            using var client = await DialAsync(proxy);
            var expected = new StringBuilder();
            for (var message = 0; message < 20; message++)
            {
                var text = $"tunnel {i} message {message};";
                expected.Append(text);
                await client.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None);
            }
            client.Shutdown(SocketShutdown.Send);
            Encoding.ASCII.GetString(await ReadAllBytesAsync(client)).ShouldBe(expected.ToString());
        })).WaitAsync(BulkPatience);
        await WaitAsync(() => proxy.Connections == 0, "every tunnel ended");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PingPong_NeverStalls_EveryAnswerComesWithoutMoreBytesBehindIt(bool kernelRelay)
    {
        // Each side waits for the other's answer before it sends again, so no later byte would raise another edge: a
        // read the relay skipped would stall the exchange for good, and the await below would time out.
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));

        await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var client = await DialAsync(proxy);
            var answer = new byte[64];
            for (var round = 0; round < 300; round++)
            {
                var ping = Encoding.ASCII.GetBytes($"{i}:{round}");
                await client.SendAsync(ping, SocketFlags.None);
                var got = 0;
                while (got < ping.Length)
                {
                    var read = await client.ReceiveAsync(answer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(Patience);
                    read.ShouldBePositive();
                    got += read;
                }
                answer.AsSpan(0, got).SequenceEqual(ping).ShouldBeTrue();
            }
        })).WaitAsync(BulkPatience);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StoppingTheProxy_EndsEstablishedTunnels(bool kernelRelay)
    {
        var backendGotByte = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backendEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = RawBackend.Start(async socket =>
        {
            var one = new byte[1];
            (await socket.ReceiveAsync(one, SocketFlags.None)).ShouldBe(1);
            backendGotByte.SetResult();
            await ReadAllBytesAsync(socket);
            backendEnded.SetResult();
        });
        var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));
        using var client = await DialAsync(proxy);
        await client.SendAsync("x"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        // Relayed, so the proxy holds no unread byte of the client's: closing then sends a FIN, not a reset.
        await backendGotByte.Task.WaitAsync(Patience);

        await proxy.DisposeAsync().AsTask().WaitAsync(Patience);

        await backendEnded.Task.WaitAsync(Patience);
        (await ReadAllBytesAsync(client).WaitAsync(Patience)).ShouldBeEmpty();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ABackendThatResetsTheTunnel_ResetsTheClient_RatherThanEndingItCleanly(bool kernelRelay)
    {
        var backendGotByte = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = RawBackend.Start(async socket =>
        {
            var one = new byte[1];
            (await socket.ReceiveAsync(one, SocketFlags.None)).ShouldBe(1);
            backendGotByte.SetResult();
            // An abortive close: the backend crashed, or gave up on the connection.
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));
        using var client = await DialAsync(proxy);
        await client.SendAsync("x"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        await backendGotByte.Task.WaitAsync(Patience);

        // A clean end (0 bytes read) would tell the client that the other side finished what it had to say.
        var reset = await Should.ThrowAsync<SocketException>(async () => await ReadAllBytesAsync(client).WaitAsync(Patience));
        reset.SocketErrorCode.ShouldBe(SocketError.ConnectionReset);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AClientThatResetsTheTunnel_ResetsTheBackend(bool kernelRelay)
    {
        var backendGotByte = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backendSaw = new TaskCompletionSource<SocketError>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = RawBackend.Start(async socket =>
        {
            var one = new byte[1];
            (await socket.ReceiveAsync(one, SocketFlags.None)).ShouldBe(1);
            backendGotByte.SetResult();
            try
            {
                await ReadAllBytesAsync(socket);
                backendSaw.SetResult(SocketError.Success); // a clean end
            }
            catch (SocketException e)
            {
                backendSaw.SetResult(e.SocketErrorCode);
            }
        });
        await using var proxy = await ProxyServer.StartAsync(TcpOptions(backend, kernelRelay));
        var client = await DialAsync(proxy);
        await client.SendAsync("x"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        await backendGotByte.Task.WaitAsync(Patience);

        client.LingerState = new LingerOption(true, 0);
        client.Close();

        (await backendSaw.Task.WaitAsync(Patience)).ShouldBe(SocketError.ConnectionReset);
    }

    internal static ProxyOptions TcpOptions(RawBackend backend, bool kernelRelay) => new()
    {
        Listen = "127.0.0.1:0",
        Mode = ProxyModes.Tcp,
        Backends = [$"tcp://{backend.EndPoint}"],
        KernelRelay = kernelRelay,
        // Once the client's end has passed, the backend's answer has the close grace to get through, and on a loaded
        // machine a hundred echoing tunnels can take longer than the default 5 s: a grace that ran out would end a
        // tunnel cleanly before its last bytes, which is not what these tests look at.
        CloseGrace = BulkPatience,
    };

    internal static async Task<Socket> DialAsync(ProxyServer proxy)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);
        return client;
    }
}
