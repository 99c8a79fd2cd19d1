using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Connections;

/// <summary>A client that stops reading is cut off without stalling the connections beside it.</summary>
public sealed class SlowReaderTests
{
    [Fact]
    public async Task SlowReader_IsClosedWith3008_WhileItsNeighbourReceivesEveryMessageInOrder()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o => o.ConfigureNode = n =>
        {
            n.SendQueueCapacity = 64;
            n.RateLimitPerSecond = 0;
            n.CloseTimeout = TimeSpan.FromSeconds(30);
        });
        var hub = cluster.Cluster.Node("node-1").Node.Hub;
        await using var slow = await cluster.ConnectAsync("slow", "node-1");
        await using var fast = await cluster.ConnectAsync("fast", "node-1");
        await using var sender = await cluster.ConnectAsync("sender", "node-1");
        await slow.CommandAsync("""{"type":"join","group":"flood","id":"j"}""", "j");
        await fast.CommandAsync("""{"type":"join","group":"flood","id":"j"}""", "j");
        // The slow client reads nothing from here on.

        const int count = 3000;
        var padding = new string('x', 16_000);
        var received = new List<long>();
        var receivedCount = 0;
        var fastReads = Task.Run(async () =>
        {
            for (var i = 1; i <= count; i++)
            {
                var message = await fast.ReceiveAsync($"message {i}", TimeSpan.FromSeconds(30));
                message.GetProperty("data").GetProperty("i").GetInt32().ShouldBe(i);
                received.Add(message.GetProperty("seq").GetInt64());
                Interlocked.Increment(ref receivedCount);
            }
        });
        for (var i = 1; i <= count; i++)
        {
            // The fast reader stays within half its queue of the sender: it reads, so it must never be cut off.
            if (i % 32 == 0)
            {
                var sent = i;
                await Eventually.TrueAsync(() => Volatile.Read(ref receivedCount) >= sent - 32, $"the fast reader to reach {sent - 32}");
            }
            await sender.SendAsync($$$"""{"type":"send","to":"group:flood","data":{"i":{{{i}}},"pad":"{{{padding}}}"}}""");
        }

        // Cut off: its socket closes (its session stays resumable for the grace time, so it may still be in the hub).
        await Eventually.TrueAsync(() => !hub.TryGet(slow.ConnectionId, out var c) || c.ClosedBecause == Switchboard.Node.Connections.CloseReason.SlowConsumer,
            "the slow reader to be cut off", TimeSpan.FromSeconds(30));
        await fastReads.WithTimeout("the fast reader to get every message", TimeSpan.FromSeconds(60));

        received.ShouldBe(Enumerable.Range(1, count).Select(i => (long)i));
        // Once the slow client reads again, it finds the documented close code after what was already in flight.
        (await slow.ReceiveCloseAsync("the 3008 close", TimeSpan.FromSeconds(30))).ShouldBe(3008);
    }
}
