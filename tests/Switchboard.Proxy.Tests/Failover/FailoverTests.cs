using System.Net.WebSockets;
using System.Text.Json;
using Switchboard.Proxy.Failover;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Failover;

/// <summary>Failover mode in front of a real cluster: a node drains under a client, the client sees nothing of it.</summary>
public sealed class FailoverTests : IAsyncLifetime
{
    private const string AdminKey = "proxy-admin-key";
    private readonly HttpClient _http = new() { Timeout = Eventually.DefaultTimeout };
    private TestCluster _cluster = null!;
    private ProxyServer _proxy = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync(nodes: 2, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.AdminKeys = [AdminKey];
            };
            o.ConfigureNode = n => n.CloseTimeout = TimeSpan.FromSeconds(2);
        });
        _proxy = await ProxyServer.StartAsync(
            new ProxyOptions { Listen = "127.0.0.1:0", Admin = "127.0.0.1:0", Mode = ProxyModes.Failover, Gateway = _cluster.Gateway.ToString() },
            _cluster.Cluster.Backplane);
        await WaitAsync(() => _proxy.Backends.Count == 2, "both nodes' heartbeats");
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private Task<RawClient> OpenThroughProxyAsync(string userId, string nodeId) =>
        RawClient.OpenAsync(_proxy.WsUrl("/" + _cluster.TicketUrl(userId, nodeId).Query));

    private async Task DrainAsync(string nodeId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_cluster.Gateway, $"/v1/admin/nodes/{nodeId}/drain"));
        request.Headers.Add("X-Admin-Key", AdminKey);
        using var response = await _http.SendAsync(request).WithTimeout("the drain request");
        response.IsSuccessStatusCode.ShouldBeTrue($"drain answered {(int)response.StatusCode}");
    }

    private static async Task SendManyAsync(RawClient from, string to, int first, int last)
    {
        for (var n = first; n <= last; n++)
        {
            var reply = await from.CommandAsync($$"""{"type":"send","to":"{{to}}","data":{"n":{{n}}},"id":"s{{n}}"}""", $"s{n}");
            reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        }
    }

    [Fact]
    public async Task NodeDrainsUnderTheClient_ClientSeesNoClose_AndGetsEveryMessageOnceInOrder()
    {
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        var welcome = await bob.ReceiveAsync("bob's welcome through the proxy");
        welcome.GetProperty("node").GetString().ShouldBe("node-1");
        bob.Socket.SubProtocol.ShouldBe("switchboard.v1");
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");

        await SendManyAsync(alice, "user:bob", 1, 10);
        await DrainAsync("node-1");
        // Bob's own command while his session moves waits in the proxy's queue and is answered after the resume.
        await bob.SendAsync("""{"type":"ping","id":"p1"}""");
        await SendManyAsync(alice, "user:bob", 11, 25);

        var numbers = new List<long>();
        var seqs = new List<long>();
        var pinged = false;
        while (numbers.Count < 25 || !pinged)
        {
            var frame = await bob.ReceiveAsync($"message {numbers.Count + 1} or the ping's reply (a close would fail here)");
            switch (frame.GetProperty("type").GetString())
            {
                case "message":
                    numbers.Add(frame.GetProperty("data").GetProperty("n").GetInt64());
                    seqs.Add(frame.GetProperty("seq").GetInt64());
                    break;
                case "reply":
                    frame.GetProperty("id").GetString().ShouldBe("p1");
                    pinged = true;
                    break;
                default:
                    throw new ShouldAssertException($"bob got an unexpected frame: {frame}");
            }
        }
        numbers.ShouldBe(Enumerable.Range(1, 25).Select(n => (long)n));
        seqs.ShouldBe(Enumerable.Range(1, 25).Select(n => (long)n));
        bob.Socket.State.ShouldBe(WebSocketState.Open);
        _proxy.Backends.Single(b => b.Backend == "node-2").Connections.ShouldBe(1);
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"resumed\"} 1\n");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"gap\"} 0\n");

        // And the moved session still works both ways.
        var pong = await bob.CommandAsync("""{"type":"ping","id":"p2"}""", "p2");
        pong.GetProperty("ok").GetBoolean().ShouldBeTrue();
        await SendManyAsync(alice, "user:bob", 26, 26);
        (await bob.ReceiveAsync("message 26")).GetProperty("seq").GetInt64().ShouldBe(26);
    }

    [Fact]
    public async Task NodeStopsWithoutDraining_SessionIsLost_AndTheClientIsToldWith1012()
    {
        // A stop (not a drain) does not keep the session: the resume answers a new session, which the proxy must not
        // pass off as the old one.
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome")).GetProperty("node").GetString().ShouldBe("node-1");

        await _cluster.Cluster.StopNodeAsync("node-1");

        (await bob.ReceiveCloseAsync("the proxy's close after the session was lost", TimeSpan.FromSeconds(20))).ShouldBe(1012);
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"lost\"} 1\n");
    }

    [Fact]
    public async Task NodeRefusesTheTicket_TheClientHearsTheNodesClose()
    {
        // A ticket signed with another secret: the node refuses it with 1008, and failover does not hide that.
        var url = _cluster.TicketUrl("carol", "node-1", secret: "another-secret-0123456789-abcdefghijklmnop");
        await using var carol = await RawClient.OpenAsync(_proxy.WsUrl("/" + url.Query));
        (await carol.ReceiveCloseAsync("the node's refusal")).ShouldBe(1008);
    }

    [Fact]
    public async Task ClientWithoutTheSubprotocol_IsRefused()
    {
        var socket = new ClientWebSocket();
        var error = await Should.ThrowAsync<WebSocketException>(() => socket.ConnectAsync(_proxy.WsUrl("/" + _cluster.TicketUrl("dave", "node-1").Query), CancellationToken.None).WaitAsync(Eventually.DefaultTimeout));
        error.Message.ShouldContain("400");
    }

    [Fact]
    public void Frames_AreScannedForTypeAndSeq()
    {
        FailoverFrames.Scan("""{"type":"message","from":"user:a","data":{"seq":99,"type":"x"},"seq":7}"""u8).ShouldBe(("message", 7L));
        FailoverFrames.Scan("""{"type":"reconnect","reason":"drain"}"""u8).ShouldBe(("reconnect", (long?)null));
        FailoverFrames.Scan("not json"u8).ShouldBe(((string?)null, (long?)null));
        var welcome = FailoverFrames.ReadWelcome("""{"type":"welcome","session":"S1","resumed":false,"missedFrom":3,"missedTo":5}"""u8);
        welcome.ShouldBe(new FailoverFrames.WelcomeInfo("S1", false, 3, 5));
        JsonDocument.Parse(FailoverFrames.Resume("S\"1", 17)).RootElement.GetProperty("session").GetString().ShouldBe("S\"1");
    }
}
