using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Tunnel;

public sealed class TunnelTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tunnel_CarriesSubprotocolExtensionsCookiesAndBinaryFramesIntact(bool kernelRelay)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.KernelRelay = kernelRelay;
        await using var proxy = await ProxyServer.StartAsync(options);
        using var socket = await ConnectAsync(proxy, "/chat/room?x=1&y=two", o =>
        {
            o.AddSubProtocol("chat.v2");
            o.AddSubProtocol("chat.v1");
            o.DangerousDeflateOptions = new WebSocketDeflateOptions();
            o.Cookies = new CookieContainer();
            o.Cookies.Add(new Uri($"http://{proxy.ListenEndPoint}"), new Cookie("session", "abc123"));
        });

        socket.SubProtocol.ShouldBe("chat.v2");
        var payload = new byte[200_000];
        new Random(7).NextBytes(payload);
        await socket.SendAsync(payload, WebSocketMessageType.Binary, true, CancellationToken.None).WaitAsync(Patience);
        var (type, echoed) = await socket.ReceiveMessageAsync();
        type.ShouldBe(WebSocketMessageType.Binary);
        echoed.ShouldBe(payload);
        await socket.SendTextAsync("héllo");
        (await socket.ReceiveTextAsync()).ShouldBe("héllo");

        var seen = backend.Requests.Single();
        seen.Path.ShouldBe("/chat/room");
        seen.Query.ShouldBe("?x=1&y=two");
        seen.Headers["Sec-WebSocket-Protocol"].ShouldBe("chat.v2, chat.v1");
        seen.Headers["Sec-WebSocket-Extensions"].ShouldContain("permessage-deflate");
        seen.Headers["Cookie"].ShouldContain("session=abc123");
        seen.Headers["X-Forwarded-For"].ShouldBe("127.0.0.1");
        seen.Headers["X-Forwarded-Proto"].ShouldBe("http");
        seen.Headers["Host"].ShouldBe(proxy.ListenEndPoint.ToString());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Patience);
        socket.CloseStatus.ShouldBe(WebSocketCloseStatus.NormalClosure);
        await WaitAsync(() => proxy.Connections == 0 && backend.Open == 0, "the tunnel to close on both sides");
    }

    [Fact]
    public async Task Tunnel_AppendsClientToAnExistingForwardedForChain()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        await using var proxy = await ProxyServer.StartAsync(Options(backend));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);
        await client.SendAsync(Encoding.ASCII.GetBytes(Upgrade("/", "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n")), SocketFlags.None);

        var head = await ReadHeadAsync(client);
        head.ShouldStartWith("HTTP/1.1 101");
        var seen = backend.Requests.Single();
        seen.Headers["X-Forwarded-For"].ShouldBe("10.0.0.1, 127.0.0.1");
        seen.Headers["X-Forwarded-Proto"].ShouldBe("http");
    }

    [Fact]
    public async Task BackendWithPath_GetsItsPathAndTheClientsQuery()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options();
        options.Backends = [backend.Spec + "/v1/ws"];
        await using var proxy = await ProxyServer.StartAsync(options);
        using var socket = await ConnectAsync(proxy, "/?token=t1");

        var seen = backend.Requests.Single();
        seen.Path.ShouldBe("/v1/ws");
        seen.Query.ShouldBe("?token=t1");
    }

    [Fact]
    public async Task RoundRobin_SpreadsTunnelsEvenly()
    {
        var backends = await StartBackendsAsync(3);
        try
        {
            await using var proxy = await ProxyServer.StartAsync(Options(backends));
            var sockets = new List<ClientWebSocket>();
            for (var i = 0; i < 6; i++)
            {
                sockets.Add(await ConnectAsync(proxy));
            }
            backends.Select(b => b.Accepted).ShouldBe([2, 2, 2]);
            proxy.Backends.Select(b => b.Connections).ShouldBe([2, 2, 2]);
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
            await WaitAsync(() => proxy.Backends.All(b => b.Connections == 0), "the backends' connection counts to drop");
        }
        finally
        {
            foreach (var backend in backends)
            {
                await backend.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task IdleTunnel_IsClosedAfterTheIdleTimeout(bool kernelRelay)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.KernelRelay = kernelRelay;
        options.IdleTimeout = TimeSpan.FromMilliseconds(400);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var idle = await ConnectAsync(proxy);

        var closed = idle.ReceiveAsync(new byte[16], CancellationToken.None);
        var ended = await Should.ThrowAsync<WebSocketException>(closed.WaitAsync(Patience));
        ended.WebSocketErrorCode.ShouldBe(WebSocketError.ConnectionClosedPrematurely);
        await WaitAsync(() => proxy.Connections == 0 && backend.Open == 0, "the idle tunnel to be gone on both sides");
    }

    [Fact]
    public async Task ClientThatNeverSendsItsRequest_IsClosedAfterTheHandshakeTimeout()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
        await using var proxy = await ProxyServer.StartAsync(options);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);
        await client.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n"), SocketFlags.None);

        (await ReadToEndAsync(client)).ShouldBeEmpty();
        backend.Accepted.ShouldBe(0);
    }

    internal static async Task<string> ReadHeadAsync(Socket client)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await client.ReceiveAsync(one, SocketFlags.None).WaitAsync(Patience);
            if (read == 0)
            {
                break;
            }
            head.Append((char)one[0]);
        }
        return head.ToString();
    }
}
