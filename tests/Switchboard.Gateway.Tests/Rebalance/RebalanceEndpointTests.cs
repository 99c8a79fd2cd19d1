using System.Net;
using System.Text.Json;
using Switchboard.Backplane;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Rebalance;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Rebalance;

/// <summary>
/// <c>GET /v1/rebalance</c> over HTTP: the rebalancer's settings, the moves it asked for with their figures, why its
/// latest round did nothing, and its failures, behind the admin key as <c>GET /v1/autoscale</c>.
/// </summary>
public sealed class RebalanceEndpointTests
{
    private const string AdminKey = "admin-key-for-rebalance-tests";

    // node-1 holds 80 of 100, node-2 20 of 100: the mean load is 0.5, node-1 is 60 % above it (threshold 20 %) and is
    // asked to come down to ceil(0.5 × 1.05 × 100) = 53, so to move 27.
    private const int Loaded = 80;
    private const int Light = 20;
    private const int ToMove = 27;

    [Fact]
    public async Task ARoundThatMovesClients_IsShownWithItsFigures_AndLaterRoundsSayWhyTheyWait()
    {
        var time = new ManualTimeProvider();
        await using var host = await StartAsync(time, cooldown: TimeSpan.FromMinutes(1));
        var node1 = await host.JoinFakeNodeAsync("node-1", new DrainAnsweringInbox("node-1", Loaded));
        await host.JoinFakeNodeAsync("node-2", new DrainAnsweringInbox("node-2", Light));

        var view = await RoundsUntilAsync(host, time, v => v.GetProperty("decisions").GetArrayLength() > 0, "a move in GET /v1/rebalance");

        view.GetProperty("enabled").GetBoolean().ShouldBeTrue();
        view.GetProperty("active").GetBoolean().ShouldBeTrue();
        view.GetProperty("interval").GetString().ShouldBe("00:00:01");
        view.GetProperty("threshold").GetDouble().ShouldBe(0.2);
        view.GetProperty("hysteresis").GetDouble().ShouldBe(0.05);
        view.GetProperty("cooldown").GetString().ShouldBe("00:01:00");
        view.GetProperty("maxMovesPerRequest").GetInt32().ShouldBe(500);
        view.GetProperty("minConnections").GetInt32().ShouldBe(10);
        view.GetProperty("requests").GetInt64().ShouldBe(1);
        var move = view.GetProperty("decisions").EnumerateArray().ShouldHaveSingleItem();
        move.ShouldSatisfyAllConditions(
            m => m.GetProperty("action").GetString().ShouldBe("Move"),
            m => m.GetProperty("nodeId").GetString().ShouldBe("node-1"),
            m => m.GetProperty("connections").GetInt32().ShouldBe(Loaded),
            m => m.GetProperty("load").GetDouble().ShouldBe(0.8, tolerance: 1e-9),
            m => m.GetProperty("meanLoad").GetDouble().ShouldBe(0.5, tolerance: 1e-9),
            m => m.GetProperty("asked").GetInt32().ShouldBe(ToMove),
            m => m.GetProperty("moving").GetInt32().ShouldBe(ToMove),
            m => m.GetProperty("reason").GetString()!.ShouldContain($"asked to move {ToMove} of its {Loaded} connections to come down to 53"),
            m => m.TryGetProperty("at", out _).ShouldBeTrue());
        node1.Requests.ShouldBe([ToMove]);
        view.GetProperty("cooldowns").EnumerateArray().ShouldHaveSingleItem().GetProperty("nodeId").GetString().ShouldBe("node-1");

        // Its heartbeats still say 80 (its clients have not moved in this test): the next rounds wait out its cooldown.
        var waiting = await RoundsUntilAsync(host, time, v => v.GetProperty("rounds").GetInt64() > view.GetProperty("rounds").GetInt64()
            && v.GetProperty("lastRound").GetProperty("action").GetString() == "Wait", "a round after the move");
        var last = waiting.GetProperty("lastRound");
        last.GetProperty("nodeId").GetString().ShouldBe("node-1");
        last.GetProperty("reason").GetString()!.ShouldContain("asked already");
        last.GetProperty("moving").ValueKind.ShouldBe(JsonValueKind.Null);
        waiting.GetProperty("decisions").GetArrayLength().ShouldBe(1, "only moves and failures are kept");
        node1.Requests.ShouldBe([ToMove]);
    }

    [Fact]
    public async Task ARoundWhoseNodeFailsToAnswer_IsShownAsAFailure_AndTheRoundsGoOn()
    {
        var time = new ManualTimeProvider();
        await using var host = await StartAsync(time, cooldown: TimeSpan.Zero);
        // Its drain handler throws on the first request: a node that failed to answer, a failure rounds expect.
        var node1 = await host.JoinFakeNodeAsync("node-1", new DrainAnsweringInbox("node-1", Loaded, failFirst: 1));
        await host.JoinFakeNodeAsync("node-2", new DrainAnsweringInbox("node-2", Light));

        var view = await RoundsUntilAsync(host, time, v => v.GetProperty("decisions").EnumerateArray().Any(d => d.GetProperty("action").GetString() == "Move"),
            "a move after the failure");

        var decisions = view.GetProperty("decisions").EnumerateArray().Reverse().ToArray();
        var failure = decisions[0];
        failure.ShouldSatisfyAllConditions(
            f => f.GetProperty("action").GetString().ShouldBe("None"),
            f => f.GetProperty("reason").GetString()!.ShouldStartWith("failed: node 'node-1' failed to answer"),
            f => f.GetProperty("reason").GetString()!.ShouldContain("the drain handler broke"),
            f => f.GetProperty("nodeId").GetString().ShouldBe("node-1"),
            f => f.GetProperty("asked").GetInt32().ShouldBe(ToMove),
            f => f.GetProperty("moving").ValueKind.ShouldBe(JsonValueKind.Null));
        decisions[1].GetProperty("action").GetString().ShouldBe("Move");
        decisions[1].GetProperty("moving").GetInt32().ShouldBe(ToMove);
        node1.Requests.Count.ShouldBeGreaterThanOrEqualTo(2);
    }

    [Fact]
    public async Task ARoundThatThrowsAnUnexpectedException_IsShownAsAFailure_AndTheRoundsGoOn()
    {
        var time = new ManualTimeProvider();
        await using var host = await StartAsync(time, cooldown: TimeSpan.Zero, new ThrowingOnceBackplane());
        await host.JoinFakeNodeAsync("node-1", new DrainAnsweringInbox("node-1", Loaded));
        await host.JoinFakeNodeAsync("node-2", new DrainAnsweringInbox("node-2", Light));

        var view = await RoundsUntilAsync(host, time, v => v.GetProperty("decisions").EnumerateArray().Any(d => d.GetProperty("action").GetString() == "Move"),
            "a move after the failure");

        var decisions = view.GetProperty("decisions").EnumerateArray().Reverse().ToArray();
        decisions[0].GetProperty("action").GetString().ShouldBe("None");
        decisions[0].GetProperty("reason").GetString().ShouldBe("failed unexpectedly (InvalidOperationException): a bug behind the rebalancer's request");
        decisions[0].GetProperty("nodeId").GetString().ShouldBe("node-1");
        decisions[1].GetProperty("action").GetString().ShouldBe("Move");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-the-admin-key")]
    [InlineData(GatewayHost.ApiKey)]
    public async Task WithoutAnAdminKey_Is401_AsAutoscale(string? key)
    {
        await using var host = await GatewayHost.StartAsync(o => o.AdminKeys = [AdminKey]);

        foreach (var path in new[] { "/v1/autoscale", "/v1/rebalance" })
        {
            using var response = await GetAsync(host, path, key);

            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, path);
            (await response.ErrorCodeAsync()).ShouldBe("unauthorized", path);
        }
    }

    [Fact]
    public async Task WithAnAdminKey_Is200_AsAutoscale_EvenWhenTheRebalancerIsOff()
    {
        await using var host = await GatewayHost.StartAsync(o => o.AdminKeys = [AdminKey]);

        (await GetAsync(host, "/v1/autoscale", AdminKey)).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var response = await GetAsync(host, "/v1/rebalance", AdminKey);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var view = await response.JsonAsync();
        view.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        view.GetProperty("active").GetBoolean().ShouldBeFalse();
        view.GetProperty("lastRound").ValueKind.ShouldBe(JsonValueKind.Null);
        view.GetProperty("decisions").GetArrayLength().ShouldBe(0);
    }

    private static Task<GatewayHost> StartAsync(ManualTimeProvider time, TimeSpan cooldown, IBackplane? backplane = null) =>
        GatewayHost.StartAsync(o =>
        {
            o.AdminKeys = [AdminKey];
            o.Rebalance = new RebalancerOptions
            {
                Enabled = true,
                Interval = TimeSpan.FromSeconds(1),
                Threshold = 0.2,
                Hysteresis = 0.05,
                Cooldown = cooldown,
                MaxMovesPerRequest = 500,
                MinConnections = 10,
            };
        }, time, backplane: backplane);

    /// <summary>
    /// Heartbeats of both nodes, a second of virtual time (a round, the interval being 1 s), a look at
    /// <c>GET /v1/rebalance</c>; again until <paramref name="done"/>.
    /// </summary>
    private static async Task<JsonElement> RoundsUntilAsync(GatewayHost host, ManualTimeProvider time, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + Eventually.DefaultTimeout;
        while (true)
        {
            await host.HeartbeatAsync("node-1", connections: Loaded, capacity: 100).WithTimeout("heartbeat");
            await host.HeartbeatAsync("node-2", connections: Light, capacity: 100).WithTimeout("heartbeat");
            time.Advance(TimeSpan.FromSeconds(1));
            using var response = await GetAsync(host, "/v1/rebalance", AdminKey);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var view = await response.JsonAsync();
            if (done(view))
            {
                return view;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}; last answer {view}");
            }
            await Task.Delay(10);
        }
    }

    private static Task<HttpResponseMessage> GetAsync(GatewayHost host, string path, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("X-Admin-Key", key);
        }
        return host.Client.SendAsync(request).WithTimeout($"GET {path}");
    }

    /// <summary>A fake node that answers partial drains (moving what it is asked), after throwing on the first few.</summary>
    private sealed class DrainAnsweringInbox(string nodeId, int connections, int failFirst = 0) : INodeInbox
    {
        private readonly Lock _lock = new();
        private readonly List<int> _requests = [];

        public IReadOnlyList<int> Requests
        {
            get
            {
                lock (_lock)
                {
                    return _requests.ToArray();
                }
            }
        }

        public void OnMessage(RoutedMessage message)
        {
        }

        public ValueTask<byte[]> OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            kind.ShouldBe(NodeControlMessages.DrainKind);
            var count = NodeControlMessages.ReadDrain(body).Count ?? throw new InvalidOperationException("a whole-node drain");
            lock (_lock)
            {
                _requests.Add(count);
                if (_requests.Count <= failFirst)
                {
                    throw new InvalidOperationException("the drain handler broke");
                }
            }
            return ValueTask.FromResult(NodeControlMessages.Write(new DrainAnswer(nodeId, count, connections, Draining: false)));
        }
    }

    /// <summary>A backplane whose first request throws what no round expects (as the autoscaler's throwing provisioner).</summary>
    private sealed class ThrowingOnceBackplane : DelegatingBackplane
    {
        private int _requests;

        public override ValueTask<byte[]> RequestAsync(string nodeId, string kind, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _requests) == 1
                ? throw new InvalidOperationException("a bug behind the rebalancer's request")
                : base.RequestAsync(nodeId, kind, body, timeout, cancellationToken);
    }
}
