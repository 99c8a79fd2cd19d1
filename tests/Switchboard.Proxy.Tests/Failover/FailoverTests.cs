using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
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

    /// <summary>Two nodes (or <paramref name="nodes"/>), a gateway (dev mode, or production with a proxy key) and the failover proxy in front.</summary>
    private async Task StartAsync(bool devGateway = true, string? gatewayKey = ProxyKey, Action<ProxyOptions>? configure = null, int nodes = 2,
        int repeatWindow = 65_536, Action<string, Switchboard.Node.NodeOptions>? configureNodeById = null)
    {
        _clusterOrNull = await TestCluster.StartAsync(nodes, o =>
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
            o.ConfigureNode = n =>
            {
                n.CloseTimeout = TimeSpan.FromSeconds(2);
                n.RepeatWindow = repeatWindow;
            };
            o.ConfigureNodeById = configureNodeById;
        });
        var options = new ProxyOptions
        {
            Listen = "127.0.0.1:0", Admin = "127.0.0.1:0", Mode = ProxyModes.Failover, Gateway = _cluster.Gateway.ToString(),
            GatewayKey = devGateway ? null : gatewayKey, StandbySpread = TimeSpan.FromMilliseconds(300),
        };
        configure?.Invoke(options);
        _proxyOrNull = await ProxyServer.StartAsync(options, _cluster.Cluster.Backplane, new RecordingLoggerFactory(_log));
        await WaitAsync(() => _proxy.Backends.Count == nodes, "every node's heartbeats");
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

    private static async Task SendManyAsync(RawClient from, string to, int first, int last, List<JsonElement>? skipped = null)
    {
        for (var n = first; n <= last; n++)
        {
            var reply = await from.CommandAsync($$"""{"type":"send","to":"{{to}}","data":{"n":{{n}}},"id":"s{{n}}"}""", $"s{n}", skipped);
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
        // Node-2 is the only node left: bob's standby, which was there, gives way to his session.
        await WaitAsync(() => _proxy.Backends.Single(b => b.Backend == "node-2").Connections == 1, "one proxy connection on node-2: bob's session");
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"resumed\"} 1\n");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"gap\"} 0\n");

        // And the moved session still works both ways.
        var pong = await bob.CommandAsync("""{"type":"ping","id":"p2"}""", "p2");
        pong.GetProperty("ok").GetBoolean().ShouldBeTrue();
        await SendManyAsync(alice, "user:bob", 26, 26);
        (await bob.ReceiveAsync("message 26")).GetProperty("seq").GetInt64().ShouldBe(26);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DotNetSdkThroughTheProxy_NodeDrainsOrStopsUnderIt_SeesNoClose_AndGetsEveryMessageOnceInOrder(bool stopWithoutKeepingSessions)
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

        await WaitAsync(() => NodesHolding("carol").Count == 2, "carol's standby on the other node");
        await SendManyAsync(alice, "user:carol", 1, 10);
        // A stop keeps no session: the proxy's resume fails, and carol's standby carries on.
        await (stopWithoutKeepingSessions ? _cluster.Cluster.StopNodeAsync(home) : DrainAsync(home));
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
        await WaitAsync(() => !_cluster.Cluster.Node(home).IsRunning || _cluster.Cluster.Node(home).ConnectionCount == 0, "the drained node to let carol's session go");
        events.ToArray().ShouldBe(["connected"], "the SDK saw no close, no reconnect and no gap");
        carol.State.ShouldBe(SwitchboardClientState.Connected);
        await carol.PingAsync().WithTimeout("a ping on the moved session");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NodeStopsWithoutKeepingTheSession_TheStandbyCarriesOn_ClientSeesNoClose_AndLosesNothing(bool devGateway)
    {
        await StartAsync(devGateway, nodes: 3);
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome")).GetProperty("node").GetString().ShouldBe("node-1");
        await WaitAsync(() => NodesHolding("bob").Count == 2, "bob's standby on another node");
        var standbyNode = NodesHolding("bob").Single(n => n != "node-1");
        (await bob.CommandAsync("""{"type":"join","group":"room","id":"j1"}""", "j1")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        var aliceNode = standbyNode == "node-2" ? "node-3" : "node-2";
        await using var alice = await _cluster.ConnectAsync("alice", aliceNode);
        await SendManyAsync(alice, "user:bob", 1, 10);

        // Alice keeps sending while node-1 stops without keeping sessions; bob sends too, while his node goes.
        var aliceGot = new List<JsonElement>();
        var aliceSends = SendManyAsync(alice, "user:bob", 11, 40, aliceGot);
        for (var n = 1; n <= 5; n++)
        {
            await bob.SendAsync($$"""{"type":"send","to":"user:alice","data":{"b":{{n}}},"id":"b{{n}}"}""");
        }
        await _cluster.Cluster.StopNodeAsync("node-1");
        await aliceSends;
        await alice.SendAsync("""{"type":"send","to":"group:room","data":{"n":41}}""");

        var numbers = new List<long>();
        var seqs = new List<long>();
        while (numbers.Count < 41)
        {
            var frame = await bob.ReceiveAsync($"message {numbers.Count + 1} (a close would fail here)");
            if (frame.GetProperty("type").GetString() == "message")
            {
                numbers.Add(frame.GetProperty("data").GetProperty("n").GetInt64());
                seqs.Add(frame.GetProperty("seq").GetInt64());
            }
        }
        numbers.ShouldBe(Enumerable.Range(1, 41).Select(n => (long)n), "every message once, in order, the group's through the standby's membership");
        seqs.ShouldBe(Enumerable.Range(1, 41).Select(n => (long)n), "the client's seqs run on across the promotion");
        bob.Socket.State.ShouldBe(WebSocketState.Open);
        // Bob's sends in flight when his node went reach alice at least once.
        var fromBob = aliceGot.Where(f => f.GetProperty("type").GetString() == "message").Select(f => f.GetProperty("data").GetProperty("b").GetInt64()).ToHashSet();
        while (fromBob.Count < 5)
        {
            var frame = await alice.ReceiveAsync($"bob's message {fromBob.Count + 1}");
            if (frame.GetProperty("type").GetString() == "message")
            {
                fromBob.Add(frame.GetProperty("data").GetProperty("b").GetInt64());
            }
        }
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"promoted\"} 1\n");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"lost\"} 0\n");
        _log.Entries.Single(e => e.EventName == "FailoverPromoted").Message.ShouldContain($"lost with node node-1; its standby");

        // The promoted session gets a standby of its own, on the node left, and works both ways.
        await WaitAsync(() => NodesHolding("bob").Order().SequenceEqual(new[] { "node-2", "node-3" }), "a new standby for bob, on the node left");
        (await bob.CommandAsync("""{"type":"ping","id":"p1"}""", "p1")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        await SendManyAsync(alice, "user:bob", 42, 42);
        (await bob.ReceiveAsync("message 42")).GetProperty("seq").GetInt64().ShouldBe(42);
    }

    [Fact]
    public async Task StandbysNodeStops_ItIsReplaced_ThenThePrimarysNodeStops_AndTheClientStillLosesNothing()
    {
        await StartAsync(nodes: 3);
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome")).GetProperty("node").GetString().ShouldBe("node-1");
        await WaitAsync(() => NodesHolding("bob").Count == 2, "bob's standby");
        var firstStandby = NodesHolding("bob").Single(n => n != "node-1");
        var lastNode = firstStandby == "node-2" ? "node-3" : "node-2";
        await using var alice = await _cluster.ConnectAsync("alice", lastNode);
        await SendManyAsync(alice, "user:bob", 1, 5);

        // The standby's node goes: bob sees nothing, and a new standby opens on the node left.
        await _cluster.Cluster.StopNodeAsync(firstStandby);
        await SendManyAsync(alice, "user:bob", 6, 10);
        await WaitAsync(() => NodesHolding("bob").Order().SequenceEqual(new[] { "node-1", lastNode }), "bob's new standby on " + lastNode);

        // Then his own node goes: the new standby carries him on.
        await SendManyAsync(alice, "user:bob", 11, 15);
        await _cluster.Cluster.StopNodeAsync("node-1");
        await SendManyAsync(alice, "user:bob", 16, 20);

        var numbers = new List<long>();
        while (numbers.Count < 20)
        {
            var frame = await bob.ReceiveAsync($"message {numbers.Count + 1} (a close would fail here)");
            frame.GetProperty("type").GetString().ShouldBe("message");
            numbers.Add(frame.GetProperty("data").GetProperty("n").GetInt64());
            frame.GetProperty("seq").GetInt64().ShouldBe(numbers.Count);
        }
        numbers.ShouldBe(Enumerable.Range(1, 20).Select(n => (long)n));
        bob.Socket.State.ShouldBe(WebSocketState.Open);
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"promoted\"} 1\n");
    }

    /// <summary>The running nodes that hold a connection of <paramref name="userId"/> (through the proxy: the session's and the standby's).</summary>
    private List<string> NodesHolding(string userId) =>
        [.. _cluster.Cluster.Nodes.Where(n => n.IsRunning && n.Node.Hub.UserConnectionCount(userId) > 0).Select(n => n.NodeId)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WithoutStandby_NodeStopsWithoutDraining_SessionIsLost_AndTheClientIsToldWith1012(bool devGateway)
    {
        // With a proxy key the new node gets a resume-only ticket and closes it with 1008 instead of opening a new
        // session: the outcome for the client is the same.
        await StartAsync(devGateway, configure: o => o.Standby = false);
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
    public async Task ACommandWithoutAnIdThatTheNodeRefuses_TheClientGetsTheErrorFrame_AsStraightAtTheNode()
    {
        await StartAsync();
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        await bob.ReceiveAsync("bob's welcome through the proxy");
        await using var direct = await _cluster.ConnectAsync("carol", "node-1");

        // The proxy gives the send an id of its own so that it is answered; the node's refusal must still reach bob,
        // as the error frame the node sends a client that gave no id.
        const string refused = """{"type":"send","to":"nowhere:x","data":1}""";
        await bob.SendAsync(refused);
        await direct.SendAsync(refused);
        var throughProxy = await bob.ReceiveAsync("the refusal through the proxy");
        var straight = await direct.ReceiveAsync("the refusal straight from the node");

        straight.GetProperty("type").GetString().ShouldBe("error");
        throughProxy.GetProperty("type").GetString().ShouldBe("error");
        throughProxy.GetProperty("code").GetString().ShouldBe(straight.GetProperty("code").GetString());
        throughProxy.GetProperty("message").GetString().ShouldBe(straight.GetProperty("message").GetString());
        throughProxy.TryGetProperty("id", out _).ShouldBeFalse("the proxy's own id stays the proxy's");

        // A send that succeeds is still answered to the proxy alone: the next frame bob sees is carol's message.
        await bob.SendAsync("""{"type":"send","to":"user:carol","data":2}""");
        await direct.SendAsync("""{"type":"send","to":"user:bob","data":3}""");
        var next = await bob.ReceiveAsync("carol's message");
        next.GetProperty("type").GetString().ShouldBe("message");
        next.GetProperty("data").GetInt32().ShouldBe(3);
    }

    [Fact]
    public async Task ClientSendsThenClosesAtOnce_EveryCommandItSentReachesTheNode()
    {
        await StartAsync();
        await using var carol = await _cluster.ConnectAsync("carol", "node-1");
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        await bob.ReceiveAsync("bob's welcome through the proxy");

        // Sent back to back, not waiting for replies, and the close right behind them: the proxy's queue to the node
        // still holds most of them when the client's close arrives.
        const int count = 300;
        for (var n = 1; n <= count; n++)
        {
            await bob.SendAsync($$"""{"type":"send","to":"user:carol","data":{{n}}}""");
        }
        using (var timeout = new CancellationTokenSource(Eventually.DefaultTimeout))
        {
            await bob.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }
        bob.Socket.CloseStatus.ShouldBe(WebSocketCloseStatus.NormalClosure);

        var numbers = new List<int>();
        while (numbers.Count < count)
        {
            var frame = await carol.ReceiveAsync($"bob's message {numbers.Count + 1} of {count}");
            numbers.Add(frame.GetProperty("data").GetInt32());
        }
        numbers.ShouldBe(Enumerable.Range(1, count));
    }

    [Fact]
    public async Task ASendCarriedOutTwice_ReachesAClientBehindTheProxyOnce_EvenFromNodesThatPassOnBothCopies()
    {
        // Nodes drop a keyed repeat themselves (Node:RepeatWindow); with that off, the proxy's own window is what holds.
        await StartAsync(nodes: 3, repeatWindow: 0);
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        await bob.ReceiveAsync("bob's welcome through the proxy");
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");
        await using var alice2 = await _cluster.ConnectAsync("alice", "node-3");
        foreach (var sender in new[] { "node-2", "node-3" })
        {
            // Bob's standby may be on either node; what matters is that both senders' nodes route to his primary.
            await WaitAsync(() => _cluster.Cluster.Node(sender).Node.Cluster.Directory.GetNodes("bob").Contains("node-1"), $"{sender} to learn that bob is on node-1");
        }

        // What a failover proxy does for alice when her node dies unanswered: the same send, with its key, again on
        // another node. Bob's proxy gets both copies, with one mid, and passes on one. The next message goes behind
        // the second copy (node-3's messages to a node keep their order).
        (await alice.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"a"}""", "a")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice2.CommandAsync("""{"type":"send","to":"user:bob","data":1,"key":"k1","id":"b"}""", "b")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        (await alice2.CommandAsync("""{"type":"send","to":"user:bob","data":2,"id":"c"}""", "c")).GetProperty("ok").GetBoolean().ShouldBeTrue();

        (await bob.ReceiveAsync("the keyed message")).GetProperty("data").GetInt32().ShouldBe(1);
        (await bob.ReceiveAsync("the next message, not the second copy")).GetProperty("data").GetInt32().ShouldBe(2);
    }

    [Fact]
    public async Task ASourceAddressThatCannotBeBound_FailsTheClientWith503_AndNoNodeIsEjected()
    {
        // TEST-NET-1: on no interface of this machine, so the bind fails (EADDRNOTAVAIL) before any packet is sent.
        await StartAsync(configure: o =>
        {
            o.SourceAddresses = ["192.0.2.1"];
            o.PassiveFall = 1;
            o.PassiveEjectionTime = TimeSpan.FromMinutes(1);
        });

        var answer = await RawExchangeAsync(_proxy.ListenEndPoint,
            Upgrade("/" + _cluster.TicketUrl("bob", "node-1").Query, "Sec-WebSocket-Protocol: switchboard.v1\r\n"));

        answer.ShouldStartWith("HTTP/1.1 503 ");
        answer.ShouldContain("the proxy cannot open a connection now");
        _proxy.Backends.Select(b => (b.State, b.DialFailures)).ShouldAllBe(b => b.State == "up" && b.DialFailures == 0);
    }

    [Fact]
    public async Task ASessionWithAStandby_HoldsThreeSockets_AndTheDefaultCapKeepsThemUnderTheDescriptorLimit()
    {
        await StartAsync();
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        await bob.ReceiveAsync("bob's welcome through the proxy");
        await WaitAsync(() => _log.Count("StandbyOpened") == 1, "bob's standby");

        // Every TCP connection the proxy holds for bob, seen from the ends it does not hold: the client's, the nodes'.
        var nodePorts = _proxy.Backends.Select(b => new Uri(b.Url).Port).ToList();
        var sockets = NodeSide.Peers(_proxy.ListenEndPoint.Port).Count + nodePorts.Sum(port => NodeSide.Peers(port).Count);

        var options = new ProxyOptions { Mode = ProxyModes.Failover, Gateway = _cluster.Gateway.ToString() };
        sockets.ShouldBe(ProxySettings.SocketsPerConnection(options), "client, node and standby");
        var settings = ProxySettings.Resolve(options);
        (settings.MaxConnections * sockets).ShouldBeLessThanOrEqualTo(ProxyOptions.FileDescriptorBudget);
        ProxySettings.Resolve(new ProxyOptions { Mode = ProxyModes.Failover, Gateway = _cluster.Gateway.ToString(), Standby = false }).MaxConnections.ShouldBe(9000);
        ProxySettings.Resolve(new ProxyOptions()).MaxConnections.ShouldBe(9000);
        ProxySettings.Resolve(new ProxyOptions { MaxConnections = 12 }).MaxConnections.ShouldBe(12);
    }

    [Fact]
    public async Task NodesMachineVanishes_WithoutAFinOrAReset_ThePingsGoUnanswered_AndTheStandbyCarriesOnUnseen()
    {
        // Node-1 is reached through a relay that can go silent both ways without closing anything.
        await using var relay = new FreezableRelay();
        await StartAsync(
            configure: GenerousKeepAlive,
            configureNodeById: (id, n) => n.PublicUrl = id == "node-1" ? $"ws://127.0.0.1:{relay.Port}{Switchboard.Protocol.WireNames.WebSocketPath}" : null);
        var node1 = _cluster.Cluster.Node("node-1").HttpUrl;
        relay.RelayTo(new IPEndPoint(IPAddress.Parse(node1.Host), node1.Port));
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome through the proxy and the relay")).GetProperty("node").GetString().ShouldBe("node-1");
        await WaitAsync(() => _log.Count("StandbyOpened") == 1, "bob's standby (on node-2)");
        await using var alice = await _cluster.ConnectAsync("alice", "node-2");
        await WaitAsync(() => _cluster.Cluster.Node("node-2").Node.Cluster.Directory.GetNodes("bob").Contains("node-1"), "node-2 to learn that bob is on node-1");
        await SendManyAsync(alice, "user:bob", 1, 1);
        (await bob.ReceiveAsync("message 1, before the freeze")).GetProperty("data").GetProperty("n").GetInt64().ShouldBe(1);
        relay.Connections.ShouldBe(1, "the proxy's link to node-1 goes through the relay");

        relay.Freeze();
        await SendManyAsync(alice, "user:bob", 2, 4);

        var numbers = new List<long>();
        while (numbers.Count < 3)
        {
            var frame = await bob.ReceiveAsync($"message {numbers.Count + 2} after node-1 went silent (a close would fail here)");
            numbers.Add(frame.GetProperty("data").GetProperty("n").GetInt64());
        }
        numbers.ShouldBe([2, 3, 4]);
        bob.Socket.State.ShouldBe(WebSocketState.Open);
        _log.Count("FailoverPromoted").ShouldBe(1);
    }

    [Theory]
    [InlineData(false)] // the keepalive (2 s) finds the link dead before Proxy:CloseGrace (5 s) runs out
    [InlineData(true)] // no keepalive: Proxy:CloseGrace (2 s) runs out without the node's answer
    public async Task ClientSendsThenCloses_AndItsNodeVanishesBeforeAnsweringTheClose_TheCommandsAndTheCloseGoToTheStandby(bool keepAliveOff)
    {
        // Node-1 is reached through a relay that can go silent both ways without closing anything.
        await using var relay = new FreezableRelay();
        await StartAsync(
            configure: o =>
            {
                GenerousKeepAlive(o);
                if (keepAliveOff)
                {
                    o.NodeKeepAliveInterval = TimeSpan.Zero;
                    o.NodeKeepAliveTimeout = TimeSpan.Zero;
                    o.CloseGrace = TimeSpan.FromSeconds(2);
                }
            },
            configureNodeById: (id, n) => n.PublicUrl = id == "node-1" ? $"ws://127.0.0.1:{relay.Port}{Switchboard.Protocol.WireNames.WebSocketPath}" : null);
        var node1 = _cluster.Cluster.Node("node-1").HttpUrl;
        relay.RelayTo(new IPEndPoint(IPAddress.Parse(node1.Host), node1.Port));
        await using var carol = await _cluster.ConnectAsync("carol", "node-2");
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome through the proxy and the relay")).GetProperty("node").GetString().ShouldBe("node-1");
        await WaitAsync(() => _log.Count("StandbyOpened") == 1, "bob's standby (on node-2)");

        // Node-1 goes silent; bob's sends and his close are written into its link (the kernel takes them), and no answer
        // comes: the pings find the link dead, after the close was sent.
        relay.Freeze();
        const int count = 20;
        for (var n = 1; n <= count; n++)
        {
            await bob.SendAsync($$"""{"type":"send","to":"user:carol","data":{{n}}}""");
        }
        using (var timeout = new CancellationTokenSource(Eventually.DefaultTimeout))
        {
            await bob.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }

        // A list, not a set: a message carol got twice would take the place of one she did not get.
        var numbers = new List<int>();
        while (numbers.Count < count)
        {
            var frame = await carol.ReceiveAsync($"bob's message {numbers.Count + 1} of {count}, through the standby's node");
            numbers.Add(frame.GetProperty("data").GetInt32());
        }
        numbers.Order().ShouldBe(Enumerable.Range(1, count), "each of bob's messages once");
        bob.Socket.CloseStatus.ShouldBe(WebSocketCloseStatus.NormalClosure);
        _log.Count("FailoverPromoted").ShouldBe(1);
        // The close reached the standby's node too: bob's promoted session there ends.
        await WaitAsync(() => _cluster.Cluster.Node("node-2").Node.Hub.UserConnectionCount("bob") == 0, "bob's session on node-2 to end with his close");
        _cluster.Cluster.Node("node-2").Node.KeptSessionCount.ShouldBe(0, "a close, not a drop, ended it");
    }

    [Fact]
    public async Task ClientClosesThenResetsWhileTheProxyIsBlockedSendingToIt_ItsLastCommandsAndItsCloseStillReachTheNode()
    {
        // Node-1 is reached through a relay that can leave the proxy's sends unread, so that bob's last commands and his
        // close wait in the proxy when his connection resets.
        await using var relay = new FreezableRelay();
        // Room in the queue for node-1 for all of bob's commands: the proxy reads them all before his reset.
        await using var scene = await StartWithTheSendToBobBlockedAsync(relay, failoverQueueFrames: 1000, sendQueueSpare: 1024);
        var (carol, bob) = (scene.Carol, scene.Bob);
        var linkPort = TheLinkThrough(relay);

        // Bob sends 9 MB of commands, more than the proxy's socket to node-1 and the relay's take while it holds; the
        // rest waits in the proxy's queue, his last commands and his close behind it. Then his connection resets.
        relay.Hold();
        const int large = 150;
        const int count = large + 5;
        var padding = new string('y', 60_000);
        for (var n = 1; n <= count; n++)
        {
            await bob.Client.SendAsync(n <= large
                ? $$$"""{"type":"send","to":"user:carol","data":{"n":{{{n}}},"pad":"{{{padding}}}"}}"""
                : $$$"""{"type":"send","to":"user:carol","data":{"n":{{{n}}}}}""");
        }
        await bob.CloseThenResetAsync(_proxy.ListenEndPoint.Port);
        // The premise: the proxy was sending to bob (else nothing fails, and the test proves nothing).
        await WaitAsync(() => _log.Count("ClientSendFailed") == 1, "the proxy's blocked send to bob to fail");

        // Nothing to wait for: this is the time in which the proxy, whose send to bob failed, must keep its link to node-1.
        await KeepsTheLinkAsync(linkPort, relay, TimeSpan.FromSeconds(3), "it still has his last commands and his close to send");

        relay.Release();
        await CarolGetsEachOnceInOrderAsync(carol, count);
        // The close reached node-1 too: bob's session there ends, not kept for a resume.
        await WaitAsync(() => _cluster.Cluster.Node("node-1").Node.Hub.UserConnectionCount("bob") == 0, "bob's session on node-1 to end with his close");
        _cluster.Cluster.Node("node-1").Node.KeptSessionCount.ShouldBe(0, "a close, not a drop, ended it");
    }

    [Fact]
    public async Task ClientClosesThenResetsWhileItsCommandsWaitForRoomInTheFullQueue_TheyAndItsCloseStillReachTheNode_AndItIsNoSlowConsumer()
    {
        // As above, but bob's commands fill the proxy's queue for node-1 while the relay holds: the proxy stops reading
        // bob, and his last commands and his close wait unread, in its socket, longer than Proxy:CloseGrace.
        await using var relay = new FreezableRelay();
        var closeGrace = TimeSpan.FromSeconds(3);
        await using var scene = await StartWithTheSendToBobBlockedAsync(relay, failoverQueueFrames: 4, sendQueueSpare: 5, closeGrace);
        var (carol, alice, bob, toBob) = (scene.Carol, scene.Alice, scene.Bob, scene.ToBob);
        var linkPort = TheLinkThrough(relay);
        var count = await BobsLastCommandsWaitBehindTheFullQueue_ThenHeClosesAndResetsAsync(relay, bob);

        // Node-1 goes on sending to bob, more than his send queue has room for: he is gone, not slow.
        for (var n = 1; n <= toBob + 10; n++)
        {
            var reply = await alice.CommandAsync($$"""{"type":"send","to":"user:bob","data":{"after":{{n}}},"id":"a{{n}}"}""", $"a{n}");
            reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        }
        // Nothing to wait for: this is the time (well past Proxy:CloseGrace) in which the proxy must keep its link to node-1.
        await KeepsTheLinkAsync(linkPort, relay, closeGrace + TimeSpan.FromSeconds(2), "his last commands and his close wait for room in its queue");

        relay.Release();
        await CarolGetsEachOnceInOrderAsync(carol, count);
        await WaitAsync(() => _cluster.Cluster.Node("node-1").Node.Hub.UserConnectionCount("bob") == 0, "bob's session on node-1 to end with his close");
        _cluster.Cluster.Node("node-1").Node.KeptSessionCount.ShouldBe(0, "a close, not a drop, ended it");
        _log.Count("SlowClient").ShouldBe(0, "a client whose connection failed is no slow consumer");
        _proxy.Metrics.SlowClients.ShouldBe(0);
    }

    [Fact]
    public async Task ClientClosesThenResetsWhileItsCommandsWaitForRoomInTheFullQueue_AndItsNodeDrains_TheSessionMoves_AndTheyAndItsCloseReachTheNextNode()
    {
        // As above; then, before the proxy could read bob's close, node-1 drains: it asks the proxy to move bob's session,
        // and the proxy's close to it waits behind the held commands until the link is dropped. The session must move.
        await using var relay = new FreezableRelay();
        await using var scene = await StartWithTheSendToBobBlockedAsync(relay, failoverQueueFrames: 4, sendQueueSpare: 5, TimeSpan.FromSeconds(3));
        var (carol, bob) = (scene.Carol, scene.Bob);
        var count = await BobsLastCommandsWaitBehindTheFullQueue_ThenHeClosesAndResetsAsync(relay, bob);

        await DrainAsync("node-1");

        // What node-1 never got (the relay still holds it) goes to node-2, then what waited in the proxy, then the close.
        await CarolGetsEachOnceInOrderAsync(carol, count);
        _log.Count("FailoverResumed").ShouldBe(1, "bob's session moved to node-2");
        await WaitAsync(() => _cluster.Cluster.Node("node-2").Node.Hub.UserConnectionCount("bob") == 0, "bob's session on node-2 to end with his close");
        _cluster.Cluster.Node("node-2").Node.KeptSessionCount.ShouldBe(0, "a close, not a drop, ended it");
    }

    /// <summary>
    /// The cluster and the proxy, node-1 behind <paramref name="relay"/>: no pings to node-1 (they would wait behind
    /// held commands, unanswered), no standby (no failover), a queue for the node of <paramref name="failoverQueueFrames"/>,
    /// room in a client's send queue for the large messages that block the proxy's send to bob and
    /// <paramref name="sendQueueSpare"/> more frames. Carol and alice on node-2, bob on node-1 on a socket of his own,
    /// and alice's large messages for bob, which he does not read, block the proxy's send to him.
    /// </summary>
    private async Task<BlockedScene> StartWithTheSendToBobBlockedAsync(FreezableRelay relay, int failoverQueueFrames, int sendQueueSpare,
        TimeSpan? closeGrace = null)
    {
        var toBob = LargeMessagesThatBlockTheProxysSend();
        await StartAsync(
            configure: o =>
            {
                o.NodeKeepAliveInterval = TimeSpan.Zero;
                o.NodeKeepAliveTimeout = TimeSpan.Zero;
                o.Standby = false;
                o.SendQueueBytes = (toBob + 1) * LargeMessageBytes;
                o.SendQueueFrames = toBob + sendQueueSpare;
                o.FailoverQueueFrames = failoverQueueFrames;
                o.CloseGrace = closeGrace ?? o.CloseGrace;
                o.FailoverTimeout = TimeSpan.FromSeconds(30);
            },
            configureNodeById: (id, n) => n.PublicUrl = id == "node-1" ? $"ws://127.0.0.1:{relay.Port}{Switchboard.Protocol.WireNames.WebSocketPath}" : null);
        var node1 = _cluster.Cluster.Node("node-1").HttpUrl;
        relay.RelayTo(new IPEndPoint(IPAddress.Parse(node1.Host), node1.Port));
        var opened = new List<IAsyncDisposable>();
        try
        {
            var carol = await _cluster.ConnectAsync("carol", "node-2");
            opened.Add(carol);
            var alice = await _cluster.ConnectAsync("alice", "node-2");
            opened.Add(alice);
            var bob = await ConnectResettableAsync("bob", "node-1");
            opened.Add(bob);
            await _cluster.WaitForPresenceAsync("node-2", "bob", "node-1");
            await _cluster.WaitForPresenceAsync("node-1", "carol", "node-2");
            await BlockTheProxysSendAsync(alice, bob, toBob);
            return new BlockedScene(carol, alice, bob, toBob);
        }
        catch
        {
            // The test never gets them to dispose of.
            opened.Reverse();
            foreach (var each in opened)
            {
                await each.DisposeAsync();
            }
            throw;
        }
    }

    /// <summary>What <see cref="StartWithTheSendToBobBlockedAsync"/> opened: the clients, and how many large messages block bob.</summary>
    private sealed record BlockedScene(RawClient Carol, RawClient Alice, ResettableClient Bob, int ToBob) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Bob.DisposeAsync();
            await Alice.DisposeAsync();
            await Carol.DisposeAsync();
        }
    }

    /// <summary>
    /// With the proxy's send to bob blocked: the relay holds, and bob sends commands of 32 KB to carol, one at a time,
    /// until the proxy no longer reads him (its socket to node-1, the relay's and its queue are full); then 5 small ones,
    /// which wait unread in the proxy's socket (asserted), and his close; then his connection resets, and the proxy's
    /// send to him fails. Returns how many commands he sent.
    /// </summary>
    private async Task<int> BobsLastCommandsWaitBehindTheFullQueue_ThenHeClosesAndResetsAsync(FreezableRelay relay, ResettableClient bob)
    {
        var proxyPort = _proxy.ListenEndPoint.Port;
        relay.Hold();
        var padding = new string('y', 32_000);
        var large = 0;
        do
        {
            large++;
            large.ShouldBeLessThan(5000, "the proxy still reads bob after 160 MB: its queue for node-1 never filled");
            await bob.Client.SendAsync($$$"""{"type":"send","to":"user:carol","data":{"n":{{{large}}},"pad":"{{{padding}}}"}}""");
        }
        while (!await StopsReadingAsync(proxyPort, bob.Port));
        var count = large + 5;
        var tailBytes = 0;
        for (var n = large + 1; n <= count; n++)
        {
            var command = $$$"""{"type":"send","to":"user:carol","data":{"n":{{{n}}}}}""";
            tailBytes += Encoding.UTF8.GetByteCount(command);
            await bob.Client.SendAsync(command);
        }
        await WaitAsync(() => TcpTable.Unacknowledged(bob.Port, proxyPort) == 0, "the proxy's end to acknowledge bob's last commands");
        // The premise: bob's last commands (and the close to come) wait unread when his connection fails.
        TcpTable.Unread(proxyPort, bob.Port).ShouldBeGreaterThan(tailBytes, "bob's last commands wait unread in the proxy's socket, behind its full queue");
        await bob.CloseThenResetAsync(proxyPort);
        await WaitAsync(() => _log.Count("ClientSendFailed") == 1, "the proxy's blocked send to bob to fail");
        return count;
    }

    /// <summary>
    /// Whether the proxy stopped reading the client on <paramref name="clientPort"/>: false as soon as it read all the
    /// client sent, true when what it left unread has not moved for three seconds (a shorter stall of a proxy on two busy
    /// cores, a collection or a starved thread pool, is not a stop).
    /// </summary>
    private static async Task<bool> StopsReadingAsync(int proxyPort, int clientPort)
    {
        var unread = -1L;
        var still = System.Diagnostics.Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
        while (true)
        {
            var now = TcpTable.Unread(proxyPort, clientPort);
            if (now == 0 && TcpTable.Unacknowledged(clientPort, proxyPort) == 0)
            {
                return false;
            }
            if (now != unread)
            {
                unread = now;
                still.Restart();
            }
            else if (now > 0 && still.Elapsed >= TimeSpan.FromSeconds(3))
            {
                return true;
            }
            await Task.Delay(5, timeout.Token);
        }
    }

    /// <summary>The bytes of one of <see cref="SendLargeAsync"/>'s messages, and then some (its JSON, its frame).</summary>
    private const long LargeMessageBytes = 61_000;

    /// <summary>
    /// How many of <see cref="SendLargeAsync"/>'s messages block the proxy's send to a client that reads nothing and whose
    /// receive buffer is fixed (<see cref="ConnectResettableAsync"/>): more than the proxy's send buffer can grow to
    /// (<c>net.ipv4.tcp_wmem</c>'s maximum, read from this host) and the client's receive buffer hold.
    /// </summary>
    private static int LargeMessagesThatBlockTheProxysSend()
    {
        var sendBufferMax = long.Parse(File.ReadAllText("/proc/sys/net/ipv4/tcp_wmem").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
        // Linux doubles a SO_RCVBUF asked for; half as much again as both buffers, so the send blocks well before the end.
        return (int)((sendBufferMax + 2 * ResettableClient.ReceiveBuffer) * 3 / 2 / 60_000) + 10;
    }

    /// <summary>
    /// Alice sends bob <paramref name="count"/> large messages (<see cref="LargeMessagesThatBlockTheProxysSend"/>), which bob
    /// does not read: the proxy reads them all from his node, and its send to him blocks.
    /// </summary>
    private async Task BlockTheProxysSendAsync(RawClient alice, ResettableClient bob, int count)
    {
        var queuedBefore = _proxy.Metrics.ClientFramesQueued;
        await SendLargeAsync(alice, count);
        await WaitAsync(() => _proxy.Metrics.ClientFramesQueued - queuedBefore >= count, "the proxy to read all of bob's messages from his node");
        // More than the buffers hold is queued for him (by construction): what the kernel could take waits unacknowledged.
        await WaitAsync(() => TcpTable.Unacknowledged(_proxy.ListenEndPoint.Port, bob.Port) > 0, "bytes from the proxy to bob to wait unacknowledged");
    }

    /// <summary>Bob's connection through the proxy on his own socket (to reset it), on <paramref name="nodeId"/>, welcomed.</summary>
    private async Task<ResettableClient> ConnectResettableAsync(string userId, string nodeId)
    {
        var client = await ResettableClient.ConnectAsync(_proxy.WsUrl("/" + _cluster.TicketUrl(userId, nodeId).Query));
        (await client.Client.ReceiveAsync($"{userId}'s welcome through the proxy")).GetProperty("node").GetString().ShouldBe(nodeId);
        return client;
    }

    /// <summary>The proxy's one link through <paramref name="relay"/>: its local port.</summary>
    private static int TheLinkThrough(FreezableRelay relay)
    {
        var linkPorts = TcpTable.PortsConnectedTo(relay.Port);
        linkPorts.Count.ShouldBe(1, "the proxy's link to node-1, through the relay");
        return linkPorts[0];
    }

    /// <summary>Asserts that the proxy's link through <paramref name="relay"/> stays for <paramref name="time"/> (a time in which nothing must happen).</summary>
    private async Task KeepsTheLinkAsync(int linkPort, FreezableRelay relay, TimeSpan time, string because)
    {
        var keep = System.Diagnostics.Stopwatch.StartNew();
        while (keep.Elapsed < time && TcpTable.Established(linkPort, relay.Port))
        {
            await Task.Delay(10);
        }
        TcpTable.Established(linkPort, relay.Port).ShouldBeTrue(
            $"the proxy kept its link to node-1 after bob's reset ({keep.Elapsed}, SlowClient logged {_log.Count("SlowClient")} times): {because}");
    }

    /// <summary>Carol gets bob's messages 1 to <paramref name="count"/>, each once, in order.</summary>
    private static async Task CarolGetsEachOnceInOrderAsync(RawClient carol, int count)
    {
        // A list, not a set: a message carol got twice would take the place of one she did not get.
        var numbers = new List<long>();
        while (numbers.Count < count)
        {
            var frame = await carol.ReceiveAsync($"bob's message {numbers.Count + 1} of {count}");
            numbers.Add(frame.GetProperty("data").GetProperty("n").GetInt64());
        }
        numbers.ShouldBe(Enumerable.Range(1, count).Select(n => (long)n), "every command bob sent before his close, once, in order");
    }

    /// <summary>Alice (straight on node-1) sends bob <paramref name="count"/> messages of 60,000 bytes: megabytes, more than the sockets' buffers hold.</summary>
    private static async Task SendLargeAsync(RawClient alice, int count)
    {
        var padding = new string('x', 60_000);
        for (var n = 1; n <= count; n++)
        {
            var reply = await alice.CommandAsync($$"""{"type":"send","to":"user:bob","data":{"n":{{n}},"pad":"{{padding}}"},"id":"s{{n}}"}""", $"s{n}");
            reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
        }
    }

    /// <summary>
    /// A keepalive a busy machine keeps easily (a node may take well over half a second to pong when the tests share two
    /// cores), used where a test asserts that no failover happens.
    /// </summary>
    private static readonly TimeSpan GenerousKeepAliveTimeout = TimeSpan.FromSeconds(2);

    private static void GenerousKeepAlive(ProxyOptions o)
    {
        o.NodeKeepAliveInterval = TimeSpan.FromSeconds(1);
        o.NodeKeepAliveTimeout = GenerousKeepAliveTimeout;
    }

    [Fact]
    public async Task ClientStopsReadingWhileItsNodeSends_TheNodesPongsAreStillRead_NoFailover_AndTheClientGetsEverythingLater()
    {
        await StartAsync(configure: o =>
        {
            GenerousKeepAlive(o);
            o.SendQueueBytes = 64L * 1024 * 1024; // the 18 MB all fit
        });
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        (await bob.ReceiveAsync("bob's welcome through the proxy")).GetProperty("node").GetString().ShouldBe("node-1");
        await WaitAsync(() => _log.Count("StandbyOpened") == 1, "bob's standby (on node-2)");
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");

        // Bob reads nothing while 18 MB come for him: the proxy's sends to him block once the sockets' buffers are full,
        // and the node's pongs come behind its messages. The proxy reads them all into bob's queue, then bob goes on
        // reading nothing for two keepalive timeouts more, at least three in all: a proxy that left the node unread
        // behind a blocked send would have aborted the link by then.
        const int count = 300;
        var stall = System.Diagnostics.Stopwatch.StartNew();
        var queuedBefore = _proxy.Metrics.ClientFramesQueued;
        await SendLargeAsync(alice, count);
        await WaitAsync(() => _proxy.Metrics.ClientFramesQueued - queuedBefore >= count || _log.Count("FailoverStarted") > 0, "the proxy to read all of bob's messages from node-1");
        _log.Count("FailoverStarted").ShouldBe(0, "a client that does not read is no node that went");
        var readAll = stall.Elapsed;
        var wait = TimeSpan.FromTicks(Math.Max((3 * GenerousKeepAliveTimeout - stall.Elapsed).Ticks, 2 * GenerousKeepAliveTimeout.Ticks));
        // Nothing to wait for: this is the time in which nothing must happen.
        await Task.Delay(wait);
        _log.Count("FailoverStarted").ShouldBe(0, $"bob stalled {stall.Elapsed} (all read after {readAll}); a client that reads slowly is no node that went");

        for (var n = 1; n <= count; n++)
        {
            var frame = await bob.ReceiveAsync($"message {n} of {count} (a close would fail here)");
            frame.GetProperty("data").GetProperty("n").GetInt64().ShouldBe(n);
            frame.GetProperty("seq").GetInt64().ShouldBe(n);
        }
        bob.Socket.State.ShouldBe(WebSocketState.Open);
        _log.Count("FailoverStarted").ShouldBe(0, "a client that reads slowly is no node that went");
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_failovers_total{result=\"promoted\"} 0\n");
    }

    [Theory]
    [InlineData(50, 4L * 1024 * 1024)] // 50 frames of 60,000 bytes: the frames overflow first
    [InlineData(1024, 1024 * 1024)] // 1 MiB: the bytes overflow first, after 17 frames
    public async Task ClientReadsTooSlowly_ItsQueueOverflows_ItIsClosedWith3008AsANodeWould_AndTheNodeKeepsItsSession(int frames, long bytes)
    {
        await StartAsync(configure: o =>
        {
            GenerousKeepAlive(o);
            o.SendQueueFrames = frames;
            o.SendQueueBytes = bytes;
            o.CloseGrace = TimeSpan.FromSeconds(20);
        });
        await using var bob = await OpenThroughProxyAsync("bob", "node-1");
        var welcome = await bob.ReceiveAsync("bob's welcome through the proxy");
        var session = welcome.GetProperty("session").GetString()!;
        await WaitAsync(() => _log.Count("StandbyOpened") == 1, "bob's standby (on node-2)");
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");

        await SendLargeAsync(alice, 300);
        await WaitAsync(() => _log.Count("SlowClient") == 1, "the proxy to close bob as a slow consumer");

        var lastSeq = 0L;
        string? text;
        while ((text = await bob.ReceiveTextAsync("bob's messages, then the proxy's close")) is not null)
        {
            lastSeq = JsonDocument.Parse(text).RootElement.GetProperty("seq").GetInt64();
        }
        ((int?)bob.Socket.CloseStatus).ShouldBe(3008);
        bob.Socket.CloseStatusDescription.ShouldBe("send queue overflow: the client reads too slowly");
        lastSeq.ShouldBeLessThan(300);
        _log.Count("FailoverStarted").ShouldBe(0);
        _proxy.Metrics.SlowClients.ShouldBe(1);
        var metrics = await _http.GetStringAsync(new Uri($"http://{_proxy.AdminEndPoint}/metrics")).WithTimeout("the metrics");
        metrics.ShouldContain("switchboard_proxy_slow_clients_total 1\n");

        // The proxy dropped its node link without a close: node-1 keeps the session for bob's resume.
        await using var resumed = await _cluster.ResumeAsync("bob", "node-1", session, lastSeq);
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
    }

    [Fact]
    public async Task ClientResumesThroughTheProxy_AReplayLongerThanTheSendQueue_ArrivesWhole_AsAtANode()
    {
        await StartAsync(configure: o =>
            {
                GenerousKeepAlive(o);
                o.SendQueueFrames = 20;
            },
            configureNodeById: (_, n) => n.ReplayBufferBytes = 64L * 1024 * 1024);
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        // Bob, straight on node-1, gets 100 messages of 60,000 bytes (more than the sockets' buffers hold) and drops:
        // node-1 keeps his session with all of them.
        const int count = 100;
        string session;
        await using (var first = await _cluster.ConnectAsync("bob", "node-1"))
        {
            session = first.Session;
            await SendLargeAsync(alice, count);
            first.Socket.Abort();
        }
        await WaitAsync(() => _cluster.Cluster.Node("node-1").Node.KeptSessionCount == 1, "node-1 to keep bob's session");

        // He resumes through the proxy and reads nothing until the proxy has read the whole replay from node-1.
        await using var bob = await RawClient.OpenAsync(_proxy.WsUrl("/" + _cluster.ResumeTicketUrl("bob", "node-1", session).Query));
        var queuedBefore = _proxy.Metrics.ClientFramesQueued;
        await bob.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r1"}""");
        await WaitAsync(() => _proxy.Metrics.ClientFramesQueued - queuedBefore >= count + 2 || _log.Count("SlowClient") > 0, "the proxy to read the welcome, the reply and the replay");
        _log.Count("SlowClient").ShouldBe(0, "a replay is queued at once; a node does not count it against the send queue");

        var welcome = await bob.ReceiveAsync("the welcome answering resume");
        welcome.GetProperty("type").GetString().ShouldBe("welcome");
        welcome.GetProperty("replayed").GetInt32().ShouldBe(count);
        (await bob.ReceiveAsync("the reply to resume")).GetProperty("id").GetString().ShouldBe("r1");
        for (var n = 1; n <= count; n++)
        {
            var frame = await bob.ReceiveAsync($"replayed message {n} of {count} (a 3008 would fail here)");
            frame.GetProperty("data").GetProperty("n").GetInt64().ShouldBe(n);
        }
        // What comes after the replay counts again.
        await SendManyAsync(alice, "user:bob", count + 1, count + 1);
        (await bob.ReceiveAsync("a live message after the replay")).GetProperty("data").GetProperty("n").GetInt64().ShouldBe(count + 1);
        bob.Socket.State.ShouldBe(WebSocketState.Open);
    }

    [Fact]
    public async Task ALinkReadIntoItsQueue_ThatNoOneReadsAnyMore_StopsReadingWhenDisposed()
    {
        await StartAsync();
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        using var nodes = new HttpMessageInvoker(new SocketsHttpHandler());
        var url = _cluster.TicketUrl("bob", "node-1");
        var link = await NodeLink.OpenAsync(nodes, null, new Uri(url + "&" + FailoverFrames.NodeQuery), null, new ProxyOptions(), CancellationToken.None);
        // As a promoted standby's: read into its queue, and then no one reads the queue (its client was too slow).
        link.StartReading();
        await WaitAsync(() => _cluster.Cluster.Node("node-1").Node.Hub.UserConnectionCount("bob") == 1, "bob's link on node-1");
        await SendManyAsync(alice, "user:bob", 1, 400);

        link.Dispose();
        await link.Reading.WithTimeout("the link's read into its full queue to end");
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
        // Without a standby, whose requests would be refused the same way.
        await StartAsync(devGateway: false, gatewayKey: "not-the-gateways-proxy-key", configure: o =>
        {
            o.FailoverTimeout = TimeSpan.FromMinutes(2);
            o.Standby = false;
        });
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
        // Without a standby, which would hold a connection of its own.
        await StartAsync(configure: o =>
        {
            o.SourceAddresses = ["127.0.0.2-127.0.0.3"];
            o.Standby = false;
        });
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
    public void Frames_AreScannedForTypeSeqAndMessageId()
    {
        FailoverFrames.Scan("""{"type":"message","from":"user:a","data":{"seq":99,"type":"x","mid":"1"},"mid":"-42","seq":7}"""u8).ShouldBe(new("message", 7L, -42L, null));
        FailoverFrames.Scan("""{"type":"message","from":"user:a","data":{},"seq":7}"""u8).ShouldBe(new("message", 7L, null, null));
        FailoverFrames.Scan("""{"type":"reply","id":"~sb1","ok":true}"""u8).ShouldBe(new("reply", null, null, "~sb1"));
        FailoverFrames.Scan("""{"type":"reconnect","reason":"drain"}"""u8).ShouldBe(new("reconnect", null, null, null));
        FailoverFrames.Scan("not json"u8).ShouldBe(default);
        Encoding.UTF8.GetString(FailoverFrames.WithId(""" {"type":"send","to":"user:b","data":1}"""u8.ToArray(), "~sb1")!)
            .ShouldBe(""" {"id":"~sb1","type":"send","to":"user:b","data":1}""");
        Encoding.UTF8.GetString(FailoverFrames.WithId("{ }"u8.ToArray(), "x")!).ShouldBe("""{"id":"x" }""");
        FailoverFrames.WithId("[1]"u8.ToArray(), "x").ShouldBeNull();
        FailoverFrames.ScanCommand("""{"type":"join","id":"j1","group":"room"}"""u8).ShouldBe(("join", "room", "j1", (string?)null));
        FailoverFrames.ScanCommand("""{"type":"send","to":"user:b","data":{"group":"x","key":"y"}}"""u8).ShouldBe(("send", (string?)null, (string?)null, (string?)null));
        FailoverFrames.ScanCommand("""{"type":"send","key":"k","to":"user:b","data":1}"""u8).ShouldBe(("send", (string?)null, (string?)null, "k"));
        Encoding.UTF8.GetString(FailoverFrames.WithFields("""{"type":"send"}"""u8.ToArray(), "~sb1", "K")!).ShouldBe("""{"id":"~sb1","key":"K","type":"send"}""");
        Encoding.UTF8.GetString(FailoverFrames.WithFields("""{"type":"send"}"""u8.ToArray(), null, "K")!).ShouldBe("""{"key":"K","type":"send"}""");
        var welcome = FailoverFrames.ReadWelcome("""{"type":"welcome","session":"S1","node":"node-2","resumed":false,"missedFrom":3,"missedTo":5}"""u8);
        welcome.ShouldBe(new FailoverFrames.WelcomeInfo("S1", false, 3, 5, "node-2"));
        JsonDocument.Parse(FailoverFrames.Resume("S\"1", 17)).RootElement.GetProperty("session").GetString().ShouldBe("S\"1");
        FailoverFrames.ErrorOfFailedReply("""{"type":"reply","id":"~sb1","ok":true}"""u8).ShouldBeNull();
        var error = JsonDocument.Parse(FailoverFrames.ErrorOfFailedReply("""{"type":"reply","id":"~sb1","ok":false,"error":{"code":"unavailable","message":"m"}}"""u8)!).RootElement;
        (error.GetProperty("type").GetString(), error.GetProperty("code").GetString(), error.GetProperty("message").GetString()).ShouldBe(("error", "unavailable", "m"));
        FailoverFrames.ErrorOfFailedReply("""{"ok":false"""u8).ShouldBeNull();
        FailoverFrames.WithNodeQuery("").ShouldBe("?ids=1&confirm=1");
        FailoverFrames.WithNodeQuery("?token=t").ShouldBe("?token=t&ids=1&confirm=1");
    }

    [Fact]
    public void SeqIsRewritten_OnlyInTheSeqField()
    {
        var frame = """{"type":"message","from":"user:a","data":{"seq":99},"mid":"5","seq":7}"""u8.ToArray();
        var rewritten = JsonDocument.Parse(FailoverFrames.WithSeq(frame, 1234)).RootElement;
        rewritten.GetProperty("seq").GetInt64().ShouldBe(1234);
        rewritten.GetProperty("data").GetProperty("seq").GetInt64().ShouldBe(99);
        rewritten.GetProperty("mid").GetString().ShouldBe("5");
    }

    [Fact]
    public void MirrorWindow_HoldsWhatOnlyTheStandbyHas_InOrder_AndDropsSecondCopies()
    {
        var window = new MirrorWindow(capacity: 4);
        window.Deliver(1).ShouldBeTrue();
        window.Standby(1, [1]); // the primary delivered it first
        window.Standby(2, [2]);
        window.Standby(3, [3]);
        window.Deliver(2).ShouldBeTrue(); // the standby's copy of 2 is no longer needed
        window.PendingCount.ShouldBe(1);
        window.Standby(4, [4]);
        window.TakePending().Select(f => f[0]).ShouldBe([(byte)3, (byte)4]);
        window.Deliver(3).ShouldBeFalse(); // the old primary's late copy, or the promoted stream's
        window.Deliver(1).ShouldBeFalse();
        // Bounded: the oldest ids are forgotten, the oldest held copies dropped.
        window.Deliver(5).ShouldBeTrue();
        window.Deliver(1).ShouldBeTrue();
        foreach (var id in new long[] { 10, 11, 12, 13, 14 })
        {
            window.Standby(id, [(byte)id]);
        }
        window.TakePending().Select(f => f[0]).ShouldBe([(byte)11, (byte)12, (byte)13, (byte)14]);
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

/// <summary>A connection's row in the kernel's TCP table (<c>/proc/net/tcp</c>), by its local and remote ports.</summary>
internal static class TcpTable
{
    /// <summary>Whether the connection from <paramref name="localPort"/> to <paramref name="remotePort"/> is established.</summary>
    public static bool Established(int localPort, int remotePort) => Row(localPort, remotePort) is { } f && f[3] == "01";

    /// <summary>The bytes the connection's peer has not acknowledged yet (its send queue), or -1 when it is gone.</summary>
    public static long Unacknowledged(int localPort, int remotePort) =>
        Row(localPort, remotePort) is { } f ? Convert.ToInt64(f[4].Split(':')[0], 16) : -1;

    /// <summary>The bytes that came in on the connection and its owner has not read yet (its receive queue), or -1 when it is gone.</summary>
    public static long Unread(int localPort, int remotePort) =>
        Row(localPort, remotePort) is { } f ? Convert.ToInt64(f[4].Split(':')[1], 16) : -1;

    /// <summary>The local ports of the established connections to <paramref name="remotePort"/>.</summary>
    public static List<int> PortsConnectedTo(int remotePort) =>
        [.. Rows().Where(f => f[3] == "01" && Port(f[2]) == remotePort).Select(f => Port(f[1]))];

    private static string[]? Row(int localPort, int remotePort) => Rows().FirstOrDefault(f => Port(f[1]) == localPort && Port(f[2]) == remotePort);

    private static IEnumerable<string[]> Rows() =>
        File.ReadLines("/proc/net/tcp").Skip(1).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static int Port(string address) => Convert.ToInt32(address.Split(':')[1], 16);
}

/// <summary>
/// A raw client on its own socket, which it can reset. Its receive buffer is fixed (<see cref="ReceiveBuffer"/>), so what
/// the proxy can write to it unread is bounded by the proxy's send buffer and this.
/// </summary>
internal sealed class ResettableClient : IAsyncDisposable
{
    /// <summary>The receive buffer asked for (Linux gives twice as much); a fixed one does not grow.</summary>
    public const int ReceiveBuffer = 64 * 1024;

    private readonly SocketsHttpHandler _handler;

    private ResettableClient(SocketsHttpHandler handler, RawClient client, Socket socket)
    {
        _handler = handler;
        Client = client;
        Socket = socket;
    }

    public RawClient Client { get; }

    public Socket Socket { get; }

    /// <summary>The client's local port.</summary>
    public int Port => ((IPEndPoint)Socket.LocalEndPoint!).Port;

    public static async Task<ResettableClient> ConnectAsync(Uri url)
    {
        Socket? socket = null;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = ReceiveBuffer };
                await s.ConnectAsync(context.DnsEndPoint, token);
                socket = s;
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        var webSocket = new ClientWebSocket();
        webSocket.Options.AddSubProtocol("switchboard.v1");
        using (var timeout = new CancellationTokenSource(Eventually.DefaultTimeout))
        {
            await webSocket.ConnectAsync(url, new HttpMessageInvoker(handler, disposeHandler: false), timeout.Token);
        }
        return new ResettableClient(handler, RawClient.Of(webSocket), socket!);
    }

    /// <summary>
    /// Sends a close, waits until the proxy's end (<paramref name="proxyPort"/>) has acknowledged every byte (a reset drops
    /// what the kernel has not sent), then resets the connection and waits until the proxy's end took the reset.
    /// </summary>
    public async Task CloseThenResetAsync(int proxyPort)
    {
        using (var timeout = new CancellationTokenSource(Eventually.DefaultTimeout))
        {
            await Client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }
        var port = Port;
        await Eventually.TrueAsync(() => TcpTable.Unacknowledged(port, proxyPort) == 0, "the proxy's end to acknowledge all the client sent");
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Dispose();
        await Eventually.TrueAsync(() => !TcpTable.Established(proxyPort, port), "the proxy's end of the client's connection to take the reset");
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        _handler.Dispose();
    }
}
