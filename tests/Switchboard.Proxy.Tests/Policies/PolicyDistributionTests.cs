using System.Net;
using Switchboard.Backplane;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Tests.Policies;

public sealed class PolicyDistributionTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("10.1.2.3"), 40000);

    [Fact]
    public void RoundRobin_FollowsTheWeightsExactly_AndInterleaves()
    {
        var backends = Backends(("a", 3), ("b", 1));
        var policy = Create(BalancingPolicies.RoundRobin);

        var picks = Enumerable.Range(0, 400).Select(_ => policy.Pick(backends, Context())!.Id).ToList();

        picks.Count(p => p == "a").ShouldBe(300);
        picks.Count(p => p == "b").ShouldBe(100);
        // Smooth: never three a's and then a b in one block of four, but b within every four picks.
        picks.Chunk(4).ShouldAllBe(block => block.Count(p => p == "b") == 1);
    }

    [Theory]
    [InlineData(BalancingPolicies.RoundRobin)]
    [InlineData(BalancingPolicies.Ticket)] // a client without a ticket: the fallback, round-robin
    public void RoundRobin_AStaticBackendAndAClusterNodeSharingAnId_EachGetsItsTurn(string name)
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.SetStatic([new BackendAddress("a", new Uri("ws://127.0.0.1:7001"), 1)]);
        pool.Observe(Heartbeat("a", connections: 0, capacity: 100), load: 0);
        var policy = BalancingPolicies.Create(name, HashKey.Parse("ip"), "SB-Backend", new Random(42), BalancingPolicies.RoundRobin);

        var picks = Enumerable.Range(0, 100).Select(_ => policy.Pick(pool.Candidates(), Context())!).ToList();

        // One score each: the two alternate, as any two backends of one weight do.
        picks.Chunk(2).ShouldAllBe(pair => pair.Count(b => b.FromCluster) == 1, "the static backend and the node, one each in every two picks");
    }

    [Fact]
    public void Random_FollowsTheWeights()
    {
        var backends = Backends(("a", 3), ("b", 1));
        var policy = Create(BalancingPolicies.Random);

        var picks = Enumerable.Range(0, 8000).Select(_ => policy.Pick(backends, Context())!.Id).ToList();

        picks.Count(p => p == "a").ShouldBeInRange(5700, 6300);
    }

    [Fact]
    public void LeastConnections_FillsTheEmptiestFirst_PerWeight()
    {
        var backends = Backends(("a", 1), ("b", 1), ("c", 2));
        for (var i = 0; i < 5; i++)
        {
            backends[0].AddConnection();
        }
        var policy = Create(BalancingPolicies.LeastConnections);

        for (var i = 0; i < 15; i++)
        {
            policy.Pick(backends, Context())!.AddConnection();
        }

        // 20 connections over weights 1:1:2 end as 5:5:10.
        backends.Select(b => b.Connections).ShouldBe([5, 5, 10]);
    }

    [Fact]
    public void PowerOfTwoChoices_KeepsConnectionsNearlyEven()
    {
        var backends = Backends(("a", 1), ("b", 1), ("c", 1), ("d", 1));
        var policy = Create(BalancingPolicies.PowerOfTwoChoices);

        for (var i = 0; i < 400; i++)
        {
            policy.Pick(backends, Context())!.AddConnection();
        }

        var counts = backends.Select(b => b.Connections).ToArray();
        (counts.Max() - counts.Min()).ShouldBeLessThanOrEqualTo(6);
    }

    [Fact]
    public void SourceHash_SameIpSameBackend_ManyIpsSpread_IpAndPortSeparatesPorts()
    {
        var backends = Backends(("a", 1), ("b", 1), ("c", 1));
        var byIp = Create(BalancingPolicies.SourceHash, "ip");
        var byIpAndPort = Create(BalancingPolicies.SourceHash, "ip:port");

        var first = byIp.Pick(backends, Context(new IPEndPoint(IPAddress.Parse("10.0.0.7"), 1000)))!;
        byIp.Pick(backends, Context(new IPEndPoint(IPAddress.Parse("10.0.0.7"), 2000))).ShouldBe(first);
        var spread = Enumerable.Range(0, 3000).Select(i => byIp.Pick(backends, Context(new IPEndPoint(new IPAddress([10, 0, (byte)(i / 256), (byte)i]), 1)))!.Id).ToList();
        spread.GroupBy(p => p).Select(g => g.Count()).ShouldAllBe(n => n > 850 && n < 1150);
        var ports = Enumerable.Range(1000, 300).Select(port => byIpAndPort.Pick(backends, Context(new IPEndPoint(IPAddress.Parse("10.0.0.7"), port)))!.Id).Distinct();
        ports.Count().ShouldBe(3);
    }

    [Fact]
    public void ConsistentHash_OnAHeader_AddingABackendMovesOnlyItsShare()
    {
        var three = Backends(("a", 1), ("b", 1), ("c", 1));
        var four = three.Append(new Backend("d", new Uri("ws://d:1"), 1)).ToList();
        var policy = Create(BalancingPolicies.ConsistentHash, "header:X-User");

        var moved = 0;
        for (var i = 0; i < 2000; i++)
        {
            var context = Context(request: Request(("X-User", $"user-{i}")));
            var before = policy.Pick(three, context)!;
            policy.Pick(three, context).ShouldBe(before);
            var after = policy.Pick(four, context)!;
            if (after != before)
            {
                after.Id.ShouldBe("d"); // a key only ever moves to the new backend
                moved++;
            }
        }
        moved.ShouldBeInRange(400, 600); // about a quarter
    }

    [Fact]
    public void ConsistentHash_GivesEachBackendItsWeightedShare()
    {
        var backends = Backends(("a", 3), ("b", 1));
        var policy = Create(BalancingPolicies.ConsistentHash, "header:X-User");

        var picks = Enumerable.Range(0, 8000).Select(i => policy.Pick(backends, Context(request: Request(("X-User", $"u{i}"))))!.Id).ToList();

        picks.Count(p => p == "a").ShouldBeInRange(5700, 6300);
    }

    [Fact]
    public void ConsistentHash_OnQueryOrCookie_UsesThatValue()
    {
        var backends = Backends(("a", 1), ("b", 1), ("c", 1), ("d", 1));
        var byQuery = Create(BalancingPolicies.ConsistentHash, "query:room");
        var byCookie = Create(BalancingPolicies.ConsistentHash, "cookie:sid");

        var rooms = Enumerable.Range(0, 200).Select(i => byQuery.Pick(backends, Context(request: Request(target: $"/ws?room=r{i}&x=1")))!.Id).ToList();
        rooms.Distinct().Count().ShouldBe(4);
        byQuery.Pick(backends, Context(request: Request(target: "/ws?room=r7"))).ShouldBe(byQuery.Pick(backends, Context(Client, Request(target: "/other?x=2&room=r7"))));
        var sid = Context(request: Request(("Cookie", "theme=dark; sid=s-42")));
        byCookie.Pick(backends, sid).ShouldBe(byCookie.Pick(backends, Context(new IPEndPoint(IPAddress.Parse("10.9.9.9"), 5), Request(("Cookie", "sid=s-42")))));
    }

    [Fact]
    public void Cookie_HonoursAKnownBackend_OtherwiseFallsBackToLeastConnections()
    {
        var backends = Backends(("a", 1), ("b", 1));
        backends[1].AddConnection();
        var policy = Create(BalancingPolicies.Cookie);

        policy.AffinityCookie.ShouldBe("SB-Backend");
        policy.Pick(backends, Context(request: Request(("Cookie", "SB-Backend=b"))))!.Id.ShouldBe("b");
        policy.Pick(backends, Context(request: Request(("Cookie", "SB-Backend=gone"))))!.Id.ShouldBe("a");
        policy.Pick(backends, Context(request: Request()))!.Id.ShouldBe("a");
    }

    [Fact]
    public void LeastLoaded_UsesHeartbeatLoadPlusOwnPlacements_ElseConnections()
    {
        var pool = new BackendPool(TimeProvider.System);
        pool.Observe(Heartbeat("n1", connections: 50, capacity: 100), load: 0.5);
        pool.Observe(Heartbeat("n2", connections: 10, capacity: 100), load: 0.1);
        var policy = Create(BalancingPolicies.LeastLoaded);

        var picks = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            var backend = policy.Pick(pool.Candidates(), Context())!;
            backend.AddConnection();
            picks.Add(backend.Id);
        }

        // n2 takes everything until its estimate (0.1 + placed/100) reaches n1's 0.5: the first 40 connections.
        picks.Take(40).ShouldAllBe(p => p == "n2");
        picks.Count(p => p == "n1").ShouldBeInRange(9, 11);

        var statics = Backends(("a", 1), ("b", 1));
        statics[0].AddConnection();
        policy.Pick(statics, Context())!.Id.ShouldBe("b");
    }

    [Fact]
    public void UnknownPolicy_IsRefusedWithTheValidNames()
    {
        var e = Should.Throw<ArgumentException>(() => Create("fastest"));
        e.Message.ShouldContain("round-robin, least-connections, least-loaded, power-of-two-choices, random, source-hash, consistent-hash, cookie");
    }

    private static IBalancingPolicy Create(string name, string hashOn = "ip") =>
        BalancingPolicies.Create(name, HashKey.Parse(hashOn), "SB-Backend", new Random(42));

    private static List<Backend> Backends(params (string Id, int Weight)[] specs) =>
        specs.Select(s => new Backend(s.Id, new Uri($"ws://{s.Id}:1"), s.Weight)).ToList();

    private static BalancingContext Context(IPEndPoint? client = null, UpgradeRequest? request = null) => new(client ?? Client, request);

    private static UpgradeRequest Request(params (string Name, string Value)[] headers) => Request("/", headers);

    private static UpgradeRequest Request(string target, params (string Name, string Value)[] headers) =>
        new("GET", target, "HTTP/1.1", headers.Select(h => new KeyValuePair<string, string>(h.Name, h.Value)).ToList());

    private static NodeHeartbeat Heartbeat(string id, int connections, int capacity, bool draining = false) =>
        new(id, $"ws://127.0.0.1:1/{id}", connections, capacity, 0, 0, draining, 1, "test", DateTimeOffset.UtcNow);
}
