using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text.Json;
using Switchboard.Client;
using Switchboard.Proxy.Failover;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Failover;

/// <summary>
/// Failover mode in front of a real cluster: a node drains under a client, the client sees nothing of it. The cluster's
/// gateway is a dev-mode one (the proxy asks as a dev-mode client) or a production one (the proxy holds a proxy key).
/// </summary>
public sealed class FailoverTests : IAsyncLifetime
{
    private const string AdminKey = "proxy-admin-key";
    private const string ProxyKey = "failover-proxy-key-0123456789";
    private readonly HttpClient _http = new() { Timeout = Eventually.DefaultTimeout };
    private readonly RecordingLogger _log = new();
    private TestCluster? _clusterOrNull;
    private ProxyServer? _proxyOrNull;

    private TestCluster _cluster => _clusterOrNull ?? throw new InvalidOperationException("StartAsync first");

    private ProxyServer _proxy => _proxyOrNull ?? throw new InvalidOperationException("StartAsync first");

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Two nodes, a gateway (dev mode, or production with a proxy key) and the failover proxy in front.</summary>
    private async Task StartAsync(bool devGateway = true, string? gatewayKey = ProxyKey, Action<ProxyOptions>? configure = null)
    {
        _clusterOrNull = await TestCluster.StartAsync(nodes: 2, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.AdminKeys = [AdminKey];
                if (!devGateway)
                {
                    g.DevMode = false;
                    g.UserTokens.Secret = "failover-test-user-secret-0123456789-abcdef";
                    g.ProxyKeys = [ProxyKey];
                }
            };
            o.ConfigureNode = n => n.CloseTimeout = TimeSpan.FromSeconds(2);
        });
        var options = new ProxyOptions
        {
            Listen = "127.0.0.1:0", Admin = "127.0.0.1:0", Mode = ProxyModes.Failover, Gateway = _cluster.Gateway.ToString(),
            GatewayKey = devGateway ? null : gatewayKey,
        };
        configure?.Invoke(options);
        _proxyOrNull = await ProxyServer.StartAsync(options, _cluster.Cluster.Backplane, new RecordingLoggerFactory(_log));
        await WaitAsync(() => _proxy.Backends.Count == 2, "both nodes' heartbeats");
    }

    public async Task DisposeAsync()
    {
        if (_proxyOrNull is not null)
        {
            await _proxyOrNull.DisposeAsync();
        }
        _http.Dispose();
        if (_clusterOrNull is not null)
        {
            await _clusterOrNull.DisposeAsync();
        }
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NodeDrainsUnderTheClient_ClientSeesNoClose_AndGetsEveryMessageOnceInOrder(bool devGateway)
    {
        await StartAsync(devGateway);
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
    public async Task DotNetSdkThroughTheProxy_NodeDrainsUnderIt_SeesNoClose_AndGetsEveryMessageOnceInOrder()
    {
        await StartAsync();
        var events = new ConcurrentQueue<string>();
        await using var carol = new SwitchboardClient(new SwitchboardClientOptions
        {
            GatewayUrl = _cluster.Gateway,
            DevUserId = "carol",
            ProxyUrl = _proxy.WsUrl(),
        });
        carol.Connected += (_, _) => events.Enqueue("connected");
        carol.Disconnected += (_, e) => events.Enqueue($"disconnected {e.CloseStatus}");
        carol.MessagesLost += (_, e) => events.Enqueue($"lost {e}");
        await carol.ConnectAsync().WithTimeout("carol to connect through the proxy");
        var home = carol.NodeId!;
        _proxy.Backends.Single(b => b.Backend == home).Connections.ShouldBe(1, "the proxy took carol to the node of her ticket");
        await using var alice = await _cluster.ConnectAsync("alice", home == "node-1" ? "node-2" : "node-1");

        await SendManyAsync(alice, "user:carol", 1, 10);
        await DrainAsync(home);
        await SendManyAsync(alice, "user:carol", 11, 25);

        var numbers = new List<int>();
        using var reading = new CancellationTokenSource(Eventually.DefaultTimeout);
        await foreach (var message in carol.ReadAllAsync(reading.Token))
        {
            numbers.Add(message.Data.GetProperty("n").GetInt32());
            if (numbers.Count == 25)
            {
                break;
            }
        }
        numbers.ShouldBe(Enumerable.Range(1, 25));
        await WaitAsync(() => _cluster.Cluster.Node(home).ConnectionCount == 0, "the drained node to let carol's session go");
        events.ToArray().ShouldBe(["connected"], "the SDK saw no close, no reconnect and no gap");
        carol.State.ShouldBe(SwitchboardClientState.Connected);
        await carol.PingAsync().WithTimeout("a ping on the moved session");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NodeStopsWithoutDraining_SessionIsLost_AndTheClientIsToldWith1012(bool devGateway)
    {
        // With a proxy key the new node gets a resume-only ticket and closes it with 1008 instead of opening a new
        // session: the outcome for the client is the same.
        await StartAsync(devGateway);
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
        await StartAsync();
        // A ticket signed with another secret: the node refuses it with 1008, and failover does not hide that.
        var url = _cluster.TicketUrl("carol", "node-1", secret: "another-secret-0123456789-abcdefghijklmnop");
        await using var carol = await RawClient.OpenAsync(_proxy.WsUrl("/" + url.Query));
        (await carol.ReceiveCloseAsync("the node's refusal")).ShouldBe(1008);
    }

    [Fact]
    public async Task ClientWithoutTheSubprotocol_IsRefused()
    {
        await StartAsync();
        var socket = new ClientWebSocket();
        var error = await Should.ThrowAsync<WebSocketException>(() => socket.ConnectAsync(_proxy.WsUrl("/" + _cluster.TicketUrl("dave", "node-1").Query), CancellationToken.None).WaitAsync(Eventually.DefaultTimeout));
        error.Message.ShouldContain("400");
    }

    [Fact]
    public async Task WrongGatewayKey_GatewayRefuses_AndTheClientIsClosedWith1012AtOnce()
    {
        // A long failover timeout: a 1012 well within it shows the proxy gave up on the 401 rather than retrying.
        await StartAsync(devGateway: false, gatewayKey: "not-the-gateways-proxy-key", configure: o => o.FailoverTimeout = TimeSpan.FromMinutes(2));
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome")).GetProperty("node").GetString().ShouldBe("node-1");
        await using var carol = await OpenThroughProxyAsync("carol", "node-1");
        (await carol.ReceiveAsync("carol's welcome")).GetProperty("node").GetString().ShouldBe("node-1");

        await DrainAsync("node-1");

        (await bob.ReceiveCloseAsync("bob's close after the gateway refused the proxy", TimeSpan.FromSeconds(20))).ShouldBe(1012);
        (await carol.ReceiveCloseAsync("carol's close", TimeSpan.FromSeconds(20))).ShouldBe(1012);
        var refused = _log.Entries.Where(e => e.EventName == "GatewayRefused").ToList();
        refused.Count.ShouldBe(1, "the refusal is logged once, not per session");
        refused[0].Message.ShouldContain("401");
        refused[0].Message.ShouldContain("Proxy:GatewayKey");
        _log.Count("GatewayRefusedAgain").ShouldBe(1);
        _log.Count("FailoverResumed").ShouldBe(0);
    }

    [Fact]
    public async Task WithoutGatewayKey_TheProxyWarnsItNeedsADevModeGateway()
    {
        await StartAsync(devGateway: true);

        var warning = _log.Entries.Single(e => e.EventName == "NoGatewayKey");
        warning.Level.ShouldBe(Microsoft.Extensions.Logging.LogLevel.Warning);
        warning.Message.ShouldContain("Gateway:DevMode=true");
    }

    [Fact]
    public async Task NodeConnections_ComeFromTheSourcePool_BeforeAndAfterAMove()
    {
        await StartAsync(configure: o => o.SourceAddresses = ["127.0.0.2-127.0.0.3"]);
        var node1 = _cluster.Cluster.Node("node-1").WebSocketUrl.Port;
        var node2 = _cluster.Cluster.Node("node-2").WebSocketUrl.Port;
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome")).GetProperty("node").GetString().ShouldBe("node-1");
        // The node side of the proxy's connection, as the kernel sees it: its peer is the first pool address.
        NodeSide.Peers(node1).ShouldBe(["127.0.0.2"]);
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");

        await DrainAsync("node-1");
        await SendManyAsync(alice, "user:bob", 1, 1);
        (await bob.ReceiveAsync("message 1, on node-2")).GetProperty("seq").GetInt64().ShouldBe(1);

        // Alice is connected straight from 127.0.0.1; bob's node connection comes from the next pool address. Message 1
        // may still have come through node-1's forwarding, before the proxy's move to node-2 completed: wait for it.
        await WaitAsync(() => NodeSide.Peers(node2).Count == 2, "the proxy's connection to node-2");
        NodeSide.Peers(node2).Order().ShouldBe(["127.0.0.1", "127.0.0.3"]);
    }

    [Fact]
    public void GatewayKey_EmptyOrShort_IsAStartupError()
    {
        foreach (var key in new[] { "", "  ", "fifteen-chars-k" })
        {
            var error = Should.Throw<ArgumentException>(() => ProxySettings.Resolve(new ProxyOptions { Mode = ProxyModes.Failover, Gateway = "http://127.0.0.1:7000", GatewayKey = key }));
            error.Message.ShouldContain("Proxy:GatewayKey");
        }
        ProxySettings.Resolve(new ProxyOptions { Mode = ProxyModes.Failover, Gateway = "http://127.0.0.1:7000", GatewayKey = "sixteen-chars-ky" }).ShouldNotBeNull();
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

/// <summary>The established TCP connections a local listening port holds, read from the kernel (<c>/proc/net/tcp</c>).</summary>
internal static class NodeSide
{
    /// <summary>The remote IPv4 addresses of the established connections whose local port is <paramref name="port"/>.</summary>
    public static List<string> Peers(int port) =>
        File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[3] == "01" && Convert.ToInt32(f[1].Split(':')[1], 16) == port)
            .Select(f => new System.Net.IPAddress(BitConverter.GetBytes(Convert.ToUInt32(f[2].Split(':')[0], 16))).ToString())
            .ToList();
}
