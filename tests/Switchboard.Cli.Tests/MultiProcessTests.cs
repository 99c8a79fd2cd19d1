using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Switchboard.Backplane.RabbitMq;
using Switchboard.Hosting;
using Switchboard.Node;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// Nodes and a gateway as separate OS processes on a real RabbitMQ broker: delivery across processes, a node killed
/// with SIGKILL, and the broker restarted under running nodes.
/// </summary>
public sealed class MultiProcessTests : ProcessClusterTests
{
    [Fact]
    public async Task DirectGroupAndApiMessages_CrossNodeProcesses_ArriveOnceInOrder()
    {
        var broker = await Own(RabbitMqBroker.StartOrShareAsync());
        var cluster = await Own(Task.FromResult(new ProcessCluster(broker.Url)));
        await Task.WhenAll(cluster.StartNodeAsync("n1"), cluster.StartNodeAsync("n2"), cluster.StartGatewayAsync());
        await cluster.WaitForGatewayNodesAsync("the gateway to see both node processes", null, "n1", "n2");
        var alice = await Own(Collector.ConnectAsync(cluster, "alice", "n1"));
        var dave = await Own(Collector.ConnectAsync(cluster, "dave", "n1"));
        var bob = await Own(Collector.ConnectAsync(cluster, "bob", "n2"));
        var carol = await Own(Collector.ConnectAsync(cluster, "carol", "n2"));
        await alice.ProbeUntilReachedAsync(bob, "user:bob");
        // The gateway learns where bob is from the broker too, on its own time.
        await PublishUntilReachedAsync(cluster, bob, "user:bob", "probe-api", Stopwatch.StartNew(), Eventually.DefaultTimeout);

        for (var i = 0; i < 50; i++)
        {
            await alice.Client.SendAsync($$"""{"type":"send","to":"user:bob","data":"m{{i}}"}""");
        }
        await carol.CommandAsync("""{"type":"join","group":"room","id":"j1"}""", "j1");
        await dave.CommandAsync("""{"type":"join","group":"room","id":"j2"}""", "j2");
        await alice.CommandAsync("""{"type":"send","to":"group:room","data":"to-room","id":"s1"}""", "s1");
        await cluster.PublishAsync("user:bob", "from-api");

        await bob.WaitForDataAsync("from-api");
        // Alice's messages come through her node and the API's through the gateway: no order between the two.
        await bob.WaitForDataAsync("m49");
        bob.Data("user:alice").Where(d => d.StartsWith('m')).ShouldBe(Enumerable.Range(0, 50).Select(i => $"m{i}"), "each direct message once, in send order");
        bob.Data("api").ShouldBe(["from-api"]);
        await carol.WaitForDataAsync("to-room");
        await dave.WaitForDataAsync("to-room");
        await alice.CommandAsync("""{"type":"ping","id":"fence"}""", "fence");
        carol.Data("user:alice").ShouldBe(["to-room"]);
        dave.Data("user:alice").ShouldBe(["to-room"]);
        alice.Data("user:alice").ShouldBeEmpty();
    }

    [Fact]
    public async Task KilledNodeProcess_LeavesOtherNodesDirectoriesAndTheGatewayWithin3Seconds()
    {
        var broker = await Own(RabbitMqBroker.StartOrShareAsync());
        var cluster = await Own(Task.FromResult(new ProcessCluster(broker.Url)));
        await Task.WhenAll(cluster.StartNodeAsync("n2"), cluster.StartGatewayAsync());
        // A node in this process, whose directory the test can read.
        var backplane = await Own(RabbitMqBackplane.ConnectAsync(new RabbitMqBackplaneOptions { Uri = broker.Url, Prefix = cluster.Prefix }));
        var app = await Own(RoleHost.StartNodeAsync(new RoleHostOptions("127.0.0.1", 0), backplane, o =>
        {
            o.NodeId = "watcher";
            o.ClusterSecret = ProcessCluster.Secret;
        }));
        var watcher = app.Services.GetRequiredService<SwitchboardNode>();
        await cluster.WaitForGatewayNodesAsync("the gateway to see both nodes", null, "n2", "watcher");
        await using var bob = await cluster.ConnectAsync("bob", "n2");
        await Eventually.TrueAsync(() => watcher.Cluster.Directory.GetNodes("bob").SequenceEqual(["n2"]), "the watcher to learn bob is on n2");

        var clock = Stopwatch.StartNew();
        cluster.Kill("n2");
        await Eventually.TrueAsync(() => watcher.Cluster.Directory.GetNodes("bob").Count == 0, "bob to leave the watcher's directory");
        await cluster.WaitForGatewayNodesAsync("the gateway to stop placing on n2", TimeSpan.FromSeconds(10), "watcher");
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task APausedNodeProcess_IsNoLongerPlacedOn_ButWhatWasSentToItsUsersMeanwhileReachesThemWhenItRunsAgain()
    {
        var broker = await Own(RabbitMqBroker.StartOrShareAsync());
        var cluster = await Own(Task.FromResult(new ProcessCluster(broker.Url)));
        // Far past the test's timeouts: a resume that asked the silent n2 would wait that long for its welcome.
        cluster.ExtraEnvironment["SWITCHBOARD__Node__ResumeRequestTimeout"] = "00:05:00";
        await Task.WhenAll(cluster.StartNodeAsync("n1"), cluster.StartNodeAsync("n2"), cluster.StartGatewayAsync());
        await cluster.WaitForGatewayNodesAsync("the gateway to see both node processes", null, "n1", "n2");
        var alice = await Own(Collector.ConnectAsync(cluster, "alice", "n1"));
        var bob = await Own(Collector.ConnectAsync(cluster, "bob", "n2"));
        await alice.ProbeUntilReachedAsync(bob, "user:bob");

        var n2 = cluster.NodeProcess("n2");
        n2.Pause();
        var paused = Stopwatch.StartNew();
        try
        {
            // Past three silent heartbeat intervals the gateway and n1 evict n2: no more placements on it.
            await cluster.GatewayProcess!.WaitForLineAsync(l => l.Contains("Node n2 evicted", StringComparison.Ordinal), "the gateway to evict the silent n2");
            await cluster.NodeProcess("n1").WaitForLineAsync(l => l.Contains("evicted peer n2", StringComparison.Ordinal), "n1 to evict the silent n2");
            (await cluster.GatewayNodesAsync()).ShouldBe(["n1"]);
            await cluster.PublishAsync("user:bob", "published-while-paused");
            await alice.CommandAsync("""{"type":"send","to":"user:bob","data":"sent-while-paused","id":"p1"}""", "p1");

            // Though bob stays routable on n2, a resume of bob's session on n1 does not ask n2, which would not answer.
            await using var resumed = await cluster.ResumeAsync("bob", "n1", bob.Client.Session);
            resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse();
            (await resumed.ReceiveAsync("the resume's refusal")).GetProperty("code").GetString().ShouldBe("resume_unavailable");
        }
        finally
        {
            n2.Resume();
        }
        // Past ~27 s the broker closes the paused node's connection and deletes its queue, and what waited there with it.
        paused.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15), "n2 was paused longer than this test can promise delivery for");

        await bob.WaitForDataAsync("published-while-paused");
        await bob.WaitForDataAsync("sent-while-paused");
        bob.Data("api").ShouldBe(["published-while-paused"]);
        await cluster.WaitForGatewayNodesAsync("the gateway to place on n2 again", null, "n1", "n2");
    }

    [Fact]
    public async Task BrokerRestart_NodesServeLocalTrafficMeanwhile_AndCrossProcessRoutingReturnsWithin10Seconds()
    {
        // Its own broker: this test stops it.
        var broker = await Own(RabbitMqBroker.StartAsync());
        var cluster = await Own(Task.FromResult(new ProcessCluster(broker.Url)));
        await Task.WhenAll(cluster.StartNodeAsync("n1"), cluster.StartNodeAsync("n2"), cluster.StartGatewayAsync());
        var alice = await Own(Collector.ConnectAsync(cluster, "alice", "n1"));
        var alice2 = await Own(Collector.ConnectAsync(cluster, "alice2", "n1"));
        var bob = await Own(Collector.ConnectAsync(cluster, "bob", "n2"));
        await alice.ProbeUntilReachedAsync(bob, "user:bob");

        await broker.StopAsync().WithTimeout("stopping the broker", TimeSpan.FromSeconds(60));
        await alice.CommandAsync("""{"type":"send","to":"user:alice2","data":"local-during-outage","id":"l1"}""", "l1");
        await alice2.WaitForDataAsync("local-during-outage");

        await broker.StartAgainAsync().WithTimeout("starting the broker", TimeSpan.FromSeconds(60));
        var back = Stopwatch.StartNew();
        await alice.ProbeUntilReachedAsync(bob, "user:bob", TimeSpan.FromSeconds(15));
        back.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10), "cross-node routing works again within 10 s of the broker's return");
        await cluster.WaitForGatewayNodesAsync("the gateway to see both nodes again", TimeSpan.FromSeconds(10), "n1", "n2");
        // The gateway reconnects on its own schedule; it asks the nodes to re-announce their users when it does.
        await PublishUntilReachedAsync(cluster, bob, "user:bob", "after-restart", back, TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// Publishes <c>prefix-0</c>, <c>prefix-1</c>, … through the gateway until any of them reaches <paramref name="receiver"/>
    /// (a slow one counts too), failing once <paramref name="clock"/> passes <paramref name="within"/>.
    /// </summary>
    private static async Task PublishUntilReachedAsync(ProcessCluster cluster, Collector receiver, string to, string prefix, Stopwatch clock, TimeSpan within)
    {
        for (var i = 0; ; i++)
        {
            await cluster.PublishAsync(to, $"{prefix}-{i}");
            try
            {
                await receiver.WaitForDataPrefixAsync($"{prefix}-", TimeSpan.FromMilliseconds(200));
                return;
            }
            catch (TimeoutException) when (clock.Elapsed < within)
            {
            }
        }
    }

    /// <summary>A client whose frames are read in the background, so a test can wait for data without cancelling a receive.</summary>
    private sealed class Collector : IAsyncDisposable
    {
        private readonly ConcurrentQueue<JsonElement> _frames = new();
        private readonly ConcurrentDictionary<string, TaskCompletionSource<JsonElement>> _replies = new();
        private readonly Task _loop;
        private int _probes;

        private Collector(RawClient client)
        {
            Client = client;
            _loop = Task.Run(ReadAsync);
        }

        public RawClient Client { get; }

        public static async Task<Collector> ConnectAsync(ProcessCluster cluster, string userId, string nodeId) =>
            new(await cluster.ConnectAsync(userId, nodeId));

        /// <summary>The data of message frames from <paramref name="from"/>, probes left out.</summary>
        public string[] Data(string from) => _frames
            .Where(f => f.GetProperty("type").GetString() == "message" && f.GetProperty("from").GetString() == from)
            .Select(f => f.GetProperty("data").GetString()!)
            .Where(d => !d.StartsWith("probe-", StringComparison.Ordinal))
            .ToArray();

        public Task WaitForDataAsync(string data, TimeSpan? timeout = null) =>
            Eventually.TrueAsync(() => _frames.Any(f => DataOf(f) == data), $"'{data}' to arrive", timeout);

        /// <summary>Waits for any message whose data starts with <paramref name="prefix"/>.</summary>
        public Task WaitForDataPrefixAsync(string prefix, TimeSpan? timeout = null) =>
            Eventually.TrueAsync(() => _frames.Any(f => DataOf(f)?.StartsWith(prefix, StringComparison.Ordinal) == true), $"a message starting '{prefix}' to arrive", timeout);

        private static string? DataOf(JsonElement frame) =>
            frame.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;

        public async Task<JsonElement> CommandAsync(string json, string id)
        {
            var reply = _replies.GetOrAdd(id, _ => new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously));
            await Client.SendAsync(json);
            var frame = await reply.Task.WithTimeout($"reply {id}");
            frame.GetProperty("ok").GetBoolean().ShouldBeTrue(frame.ToString());
            return frame;
        }

        /// <summary>Sends probes until one reaches <paramref name="receiver"/>: presence crosses processes asynchronously.</summary>
        public async Task ProbeUntilReachedAsync(Collector receiver, string to, TimeSpan? timeout = null)
        {
            var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
            // Any probe of this call counts, not only the latest: on a slow machine each may take longer than the wait.
            var round = $"probe-{Interlocked.Increment(ref _probes)}-";
            for (var i = 0; ; i++)
            {
                await Client.SendAsync($$"""{"type":"send","to":"{{to}}","data":"{{round}}{{i}}"}""");
                try
                {
                    await receiver.WaitForDataPrefixAsync(round, TimeSpan.FromMilliseconds(200));
                    return;
                }
                catch (TimeoutException) when (DateTime.UtcNow < deadline)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _loop.WaitAsync(Eventually.DefaultTimeout).ContinueWith(_ => { });
        }

        private async Task ReadAsync()
        {
            while (await Client.ReceiveTextAsync("frames", TimeSpan.FromMinutes(5)) is { } text)
            {
                var frame = JsonDocument.Parse(text).RootElement.Clone();
                if (frame.GetProperty("type").GetString() == "reply" && _replies.TryGetValue(frame.GetProperty("id").GetString()!, out var reply))
                {
                    reply.TrySetResult(frame);
                }
                _frames.Enqueue(frame);
            }
        }
    }
}
