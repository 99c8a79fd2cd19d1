using System.Collections.Concurrent;
using System.Text.Json;
using Switchboard.Tests.Common;
using static Switchboard.Client.Tests.Functional.ClientTestHelpers;

namespace Switchboard.Client.Tests.Functional;

/// <summary>Draining a node under traffic: every client moves, and the application sees every message once, in order.</summary>
public sealed class ClientDrainTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DrainUnderTraffic_EveryClientMoves_NoMessageLostOrDuplicated_InPerSenderOrder(bool overRabbitMq)
    {
        await using var broker = overRabbitMq ? await RabbitMqBroker.StartOrShareAsync() : null;
        await using var backplane = broker is null ? null : await Switchboard.Backplane.RabbitMq.RabbitMqBackplane.ConnectAsync(
            new Switchboard.Backplane.RabbitMq.RabbitMqBackplaneOptions { Uri = broker.Url, Prefix = $"drain{Guid.NewGuid():N}" });
        await using var cluster = await TestCluster.StartAsync(3, RoundRobin(o =>
        {
            o.Backplane = backplane;
            o.ConfigureNode = n =>
            {
                // Two clients per batch: the drain takes a while, so traffic really flows while clients move.
                n.DrainRatePerSecond = 20;
                // Over RabbitMQ the senders' nodes learn where a moved client went through the broker, which on a slow
                // machine can take longer than the in-process backplane's 500 ms.
                n.ResumeForwardTime = TimeSpan.FromMilliseconds(overRabbitMq ? 2000 : 500);
            };
        }));
        var receivers = new List<SwitchboardClient>();
        for (var i = 0; i < 9; i++)
        {
            receivers.Add(await ConnectAsync(cluster.Gateway, $"r{i}"));
        }
        var senders = new[] { await ConnectAsync(cluster.Gateway, "s0"), await ConnectAsync(cluster.Gateway, "s1") };
        try
        {
            var drained = cluster.Cluster.Nodes.Select(n => n.NodeId).First(id => senders.All(s => s.NodeId != id));
            var moving = receivers.Where(r => r.NodeId == drained).ToList();
            moving.Count.ShouldBeGreaterThan(0);
            foreach (var sender in senders)
            {
                foreach (var receiver in moving)
                {
                    await PresenceKnownAsync(cluster, sender.NodeId!, receiver.UserId!, drained);
                }
            }
            var lost = new ConcurrentQueue<SwitchboardMessagesLostEventArgs>();
            var received = moving.ToDictionary(r => r.UserId!, _ => new ConcurrentQueue<(string Sender, int N)>());
            var reading = moving.Select(r => Task.Run(async () =>
            {
                r.MessagesLost += (_, e) => lost.Enqueue(e);
                await foreach (var message in r.ReadAllAsync())
                {
                    received[r.UserId!].Enqueue((message.Data.GetProperty("s").GetString()!, message.Data.GetProperty("n").GetInt32()));
                }
            })).ToList();

            const int perTarget = 60;
            var sentCount = 0;
            var sending = senders.Select(sender => Task.Run(async () =>
            {
                for (var n = 1; n <= perTarget; n++)
                {
                    foreach (var receiver in moving)
                    {
                        var data = JsonSerializer.SerializeToElement(new { s = sender.UserId, n });
                        await sender.SendAsync($"user:{receiver.UserId}", data);
                    }
                    Interlocked.Increment(ref sentCount);
                }
            })).ToList();
            await Eventually.TrueAsync(() => Volatile.Read(ref sentCount) >= 10, "traffic to flow before the drain");

            var drain = cluster.Cluster.Node(drained).Node.DrainAsync();

            await Task.WhenAll(sending).WithTimeout("the senders to finish", TimeSpan.FromSeconds(60));
            foreach (var receiver in moving)
            {
                var queue = received[receiver.UserId!];
                await Eventually.TrueAsync(() => queue.Count >= 2 * perTarget,
                    $"{receiver.UserId} to receive {2 * perTarget} messages (has {queue.Count})", TimeSpan.FromSeconds(60));
            }
            await drain.WithTimeout("the drain to finish", TimeSpan.FromSeconds(60));

            foreach (var receiver in moving)
            {
                receiver.NodeId.ShouldNotBe(drained);
                var got = received[receiver.UserId!].ToList();
                got.Count.ShouldBe(2 * perTarget, $"{receiver.UserId} got duplicates");
                foreach (var sender in senders)
                {
                    got.Where(m => m.Sender == sender.UserId).Select(m => m.N).ShouldBe(Enumerable.Range(1, perTarget),
                        $"{receiver.UserId} from {sender.UserId}: every message once, in send order");
                }
            }
            lost.ShouldBeEmpty();
            cluster.Cluster.Node(drained).Node.Hub.Count.ShouldBe(0);
        }
        finally
        {
            foreach (var client in receivers.Concat(senders))
            {
                await client.DisposeAsync();
            }
        }
    }
}
