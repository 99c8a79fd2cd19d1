using System.Net.WebSockets;
using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Tunnel;

public sealed class BadRequestTests
{
    [Fact]
    public async Task BadRequests_GetClearHttpErrors_AndAnOpenTunnelCarriesOn()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.MaxHeadBytes = 4096;
        await using var proxy = await ProxyServer.StartAsync(options);
        using var tunnel = await ConnectAsync(proxy);
        var endPoint = proxy.ListenEndPoint;

        var notUpgrade = await RawExchangeAsync(endPoint, "GET / HTTP/1.1\r\nHost: proxy\r\n\r\n");
        notUpgrade.ShouldStartWith("HTTP/1.1 400 Bad Request");
        notUpgrade.ShouldContain("not a WebSocket upgrade");
        await EchoesAsync(tunnel, "after 400");

        var post = await RawExchangeAsync(endPoint, "POST / HTTP/1.1\r\nHost: proxy\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n");
        post.ShouldStartWith("HTTP/1.1 405 Method Not Allowed");
        post.ShouldContain("Allow: GET");
        await EchoesAsync(tunnel, "after 405");

        var huge = await RawExchangeAsync(endPoint, Upgrade("/", $"X-Big: {new string('a', 6000)}\r\n"));
        huge.ShouldStartWith("HTTP/1.1 431 Request Header Fields Too Large");
        await EchoesAsync(tunnel, "after 431");

        var garbage = await RawExchangeAsync(endPoint, "\u0001\u0002 nonsense\r\n\r\n");
        garbage.ShouldStartWith("HTTP/1.1 400 Bad Request");
        garbage.ShouldContain("malformed request");
        await EchoesAsync(tunnel, "after garbage");

        var noKey = await RawExchangeAsync(endPoint, "GET / HTTP/1.1\r\nHost: p\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        noKey.ShouldStartWith("HTTP/1.1 400");
        noKey.ShouldContain("Sec-WebSocket-Key");
        await EchoesAsync(tunnel, "after a missing key");
        backend.Accepted.ShouldBe(1);
    }

    [Fact]
    public async Task NoBackendReachable_Gets502_NoHealthyBackend_Gets503()
    {
        var options = Options();
        options.Backends = ["ws://127.0.0.1:1"];
        options.PassiveFall = 1;
        await using var proxy = await ProxyServer.StartAsync(options);

        var unreachable = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());
        unreachable.ShouldStartWith("HTTP/1.1 502 Bad Gateway");
        unreachable.ShouldContain("no backend reachable (tried 127.0.0.1:1)");

        // That failed dial ejected the only backend.
        var noneHealthy = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());
        noneHealthy.ShouldStartWith("HTTP/1.1 503 Service Unavailable");
        noneHealthy.ShouldContain("no healthy backend");
    }

    [Fact]
    public async Task PastTheConnectionCap_ClientsGet503_AndTheOpenTunnelCarriesOn()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.MaxConnections = 1;
        await using var proxy = await ProxyServer.StartAsync(options);
        using var tunnel = await ConnectAsync(proxy);

        var refused = await RawExchangeAsync(proxy.ListenEndPoint, Upgrade());
        refused.ShouldStartWith("HTTP/1.1 503");
        refused.ShouldContain("connection limit");
        await EchoesAsync(tunnel, "after the refusal");
    }

    private static async Task EchoesAsync(ClientWebSocket socket, string text)
    {
        await socket.SendTextAsync(text);
        (await socket.ReceiveTextAsync()).ShouldBe(text);
    }
}
