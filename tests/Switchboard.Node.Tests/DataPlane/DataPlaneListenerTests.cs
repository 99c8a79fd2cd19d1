using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>
/// The lean data-plane listener over real sockets: what clients see is the same as through the HTTP server (the same
/// welcome, routing, refusals), and bad handshakes get precise HTTP answers without disturbing anyone else.
/// </summary>
public sealed class DataPlaneListenerTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await TestCluster.StartAsync(nodes: 2, o => o.ConfigureNode = n => n.DataPlanePort = 0);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private Uri DataPlane(string nodeId) => _cluster.Cluster.Node(nodeId).WebSocketUrl;

    [Fact]
    public async Task Nodes_AdvertiseTheDataPlanePort_NotTheirHttpPort()
    {
        var node = _cluster.Cluster.Node("node-1");

        node.WebSocketUrl.Port.ShouldNotBe(node.HttpUrl.Port);
        node.WebSocketUrl.AbsolutePath.ShouldBe("/v1/ws");
        (await RawClient.PlaceAsync(_cluster.Gateway, "alice")).Url.Port.ShouldBeOneOf(DataPlane("node-1").Port, DataPlane("node-2").Port);
    }

    [Fact]
    public async Task ClientsOnTheDataPlane_GetTheWelcomeAndMessagesAcrossNodes()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        await using var bob = await _cluster.ConnectAsync("bob", "node-2");
        // And one through the HTTP server's /v1/ws, which keeps working beside it.
        var httpUrl = new UriBuilder(_cluster.TicketUrl("carol", "node-2")) { Port = _cluster.Cluster.Node("node-2").HttpUrl.Port }.Uri;
        await using var carol = await RawClient.OpenAsync(httpUrl);
        (await carol.ReceiveAsync("carol's welcome")).GetProperty("type").GetString().ShouldBe("welcome");

        alice.Socket.SubProtocol.ShouldBe("switchboard.v1");
        await alice.CommandAsync("""{"type":"send","to":"user:bob","data":"hi bob","id":"1"}""", "1");
        await alice.CommandAsync("""{"type":"send","to":"user:carol","data":"hi carol","id":"2"}""", "2");

        (await bob.ReceiveAsync("alice's message")).GetProperty("data").GetString().ShouldBe("hi bob");
        (await carol.ReceiveAsync("alice's message")).GetProperty("data").GetString().ShouldBe("hi carol");
    }

    [Fact]
    public async Task ABurstToOneClient_ArrivesWholeAndInSeqOrder_WhenItsFramesLeaveInGatheredWrites()
    {
        await using var alice = await _cluster.ConnectAsync("alice-burst", "node-1");
        await using var bob = await _cluster.ConnectAsync("bob-burst", "node-1");
        const int count = 500;

        // Sent without waiting for replies, so bob's queue holds many frames at once and they leave together.
        for (var n = 1; n <= count; n++)
        {
            await alice.SendAsync($$"""{"type":"send","to":"user:bob-burst","data":{{n}}}""");
        }

        for (var n = 1; n <= count; n++)
        {
            var frame = await bob.ReceiveAsync($"message {n}");
            frame.GetProperty("data").GetInt32().ShouldBe(n);
            frame.GetProperty("seq").GetInt64().ShouldBe(n);
        }
    }

    [Fact]
    public async Task AClientWithoutASubprotocol_IsAcceptedWithoutOne()
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(_cluster.TicketUrl("dave", "node-1"), CancellationToken.None).WaitAsync(Eventually.DefaultTimeout);
        await using var dave = RawClient.Of(socket);

        socket.SubProtocol.ShouldBeNull();
        (await dave.ReceiveAsync("welcome")).GetProperty("type").GetString().ShouldBe("welcome");
    }

    [Fact]
    public async Task ABadTicket_IsRefusedAfterTheHandshakeWith1008_AsOnTheHttpPath()
    {
        var url = new Uri($"{DataPlane("node-1")}?token=not-a-ticket");
        await using var client = await RawClient.OpenAsync(url);

        (await client.ReceiveCloseAsync("the refusal")).ShouldBe(1008);
    }

    [Fact]
    public async Task TheHandshake_AnswersWithTheRfc6455AcceptValue_EvenWhenItArrivesByteByByte()
    {
        using var tcp = await ConnectTcpAsync("node-1");
        var request = Encoding.ASCII.GetBytes(
            "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        foreach (var b in request)
        {
            await tcp.GetStream().WriteAsync(new[] { b });
        }

        var head = await RawTcp.ReadHeadAsync(tcp);

        head.ShouldStartWith("HTTP/1.1 101 Switching Protocols\r\n");
        head.ShouldContain("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
        head.ShouldNotContain("Sec-WebSocket-Protocol");
    }

    [Fact]
    public async Task AFrameSentRightBehindTheHandshake_IsNotLost()
    {
        using var tcp = await ConnectTcpAsync("node-1");
        var ticket = _cluster.TicketUrl("erin", "node-1").Query;
        var head = Encoding.ASCII.GetBytes(
            $"GET /v1/ws{ticket} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: switchboard.v1\r\n\r\n");
        // One write: the handshake and a masked text frame {"type":"ping","id":"p"} together.
        await tcp.GetStream().WriteAsync(head.Concat(RawTcp.MaskedTextFrame("""{"type":"ping","id":"p"}""")).ToArray());

        (await RawTcp.ReadHeadAsync(tcp)).ShouldContain("Sec-WebSocket-Protocol: switchboard.v1\r\n");
        var frames = await RawTcp.ReadTextFramesAsync(tcp, 2);
        frames[0].ShouldContain("\"type\":\"welcome\"");
        frames[1].ShouldContain("\"id\":\"p\"");
    }

    [Theory]
    [InlineData("POST /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 405, "method_not_allowed")]
    [InlineData("GET /other HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found")]
    [InlineData("GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n", 400, "websocket_required")]
    [InlineData("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426, "unsupported_websocket_version")]
    [InlineData("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "bad_request")]
    [InlineData("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 400, "unsupported_subprotocol")]
    [InlineData("GET /v1/ws HTTP/1.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported")]
    [InlineData("GET /v1/ws\r\n\r\n", 400, "bad_request")]
    [InlineData("GET /v1/ws HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "bad_request")]
    public async Task BadHandshakes_GetAPreciseHttpAnswer_AndOthersCarryOn(string request, int status, string code)
    {
        await using var bystander = await _cluster.ConnectAsync("frank", "node-1");
        using var tcp = await ConnectTcpAsync("node-1");

        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(request));
        var answer = await ReadToEndAsync(tcp);

        answer.ShouldStartWith($"HTTP/1.1 {status} ");
        answer.ShouldContain($"\"code\":\"{code}\"");
        if (status == 426)
        {
            answer.ShouldContain("Sec-WebSocket-Version: 13\r\n");
        }
        (await bystander.CommandAsync("""{"type":"ping","id":"still-here"}""", "still-here")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task AnOversizedHead_Gets431()
    {
        using var tcp = await ConnectTcpAsync("node-1");

        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /v1/ws HTTP/1.1\r\nX-Padding: {new string('a', 9000)}\r\n\r\n"));

        (await ReadToEndAsync(tcp)).ShouldStartWith("HTTP/1.1 431 ");
    }

    private async Task<TcpClient> ConnectTcpAsync(string nodeId)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(DataPlane(nodeId).Host, DataPlane(nodeId).Port).WaitAsync(Eventually.DefaultTimeout);
        return tcp;
    }

    private static async Task<string> ReadToEndAsync(TcpClient tcp)
    {
        var all = new MemoryStream();
        await tcp.GetStream().CopyToAsync(all).WithTimeout("the answer and the close");
        return Encoding.UTF8.GetString(all.ToArray());
    }
}
