using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Connections;

public sealed class RateLimitTests
{
    [Fact]
    public async Task CommandsPastTheRateLimit_AreRefusedWithRateLimited_NotClosed()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o => o.ConfigureNode = n =>
        {
            n.RateLimitPerSecond = 1;
            n.RateLimitBurst = 3;
        });
        await using var client = await cluster.ConnectAsync("chatty", "node-1");
        var codes = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var reply = await client.CommandAsync($$"""{"type":"ping","id":"p{{i}}"}""", $"p{i}");
            codes.Add(reply.GetProperty("ok").GetBoolean() ? "ok" : reply.GetProperty("error").GetProperty("code").GetString()!);
        }
        codes.Take(3).ShouldAllBe(c => c == "ok");
        codes.Skip(3).ShouldContain("rate_limited");
        client.Socket.State.ShouldBe(System.Net.WebSockets.WebSocketState.Open);
    }
}
