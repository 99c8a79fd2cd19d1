using System.Net;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Tunnel;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Policies;

public sealed class TicketPolicyTests
{
    [Fact]
    public void ReadClaim_ReadsTheUnverifiedPayload_AndRejectsGarbage()
    {
        // header.payload.signature, the payload {"sub":"alice","node":"node-2","n":{"x":[1]}} in base64url.
        var payload = Convert.ToBase64String("""{"sub":"alice","n":{"x":[1]},"node":"node-2"}"""u8.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var token = $"eyJhbGciOiJIUzI1NiJ9.{payload}.not-checked";

        TicketPolicy.ReadClaim(token, TicketPolicy.NodeClaim).ShouldBe("node-2");
        TicketPolicy.ReadClaim(token, TicketPolicy.SubjectClaim).ShouldBe("alice");
        TicketPolicy.ReadClaim(token, "missing").ShouldBeNull();
        TicketPolicy.ReadClaim("garbage", TicketPolicy.NodeClaim).ShouldBeNull();
        TicketPolicy.ReadClaim("a.!!!.c", TicketPolicy.NodeClaim).ShouldBeNull();
        TicketPolicy.ReadClaim("a.bm90IGpzb24.c", TicketPolicy.NodeClaim).ShouldBeNull(); // "not json"
    }

    [Fact]
    public void Ticket_IsTheDefaultForClusterBackends_AndNotForStaticOnes()
    {
        ProxySettings.Resolve(new ProxyOptions { Listen = "127.0.0.1:0" }, clusterBackends: true).Policy.Name.ShouldBe(BalancingPolicies.Ticket);
        ProxySettings.Resolve(new ProxyOptions { Listen = "127.0.0.1:0" }).Policy.Name.ShouldBe(BalancingPolicies.RoundRobin);
        var fallback = ((TicketPolicy)ProxySettings.Resolve(new ProxyOptions { Listen = "127.0.0.1:0", Policy = "ticket", TicketFallback = "random" }).Policy).Fallback;
        fallback.Name.ShouldBe(BalancingPolicies.Random);
        Should.Throw<ArgumentException>(() => ProxySettings.Resolve(new ProxyOptions { Listen = "127.0.0.1:0", Policy = "ticket", TicketFallback = "ticket" }));
        Should.Throw<ArgumentException>(() => ProxySettings.Resolve(new ProxyOptions { Listen = "127.0.0.1:0", Mode = "tcp", Policy = "ticket" }));
    }

    [Fact]
    public async Task ClientsWithTickets_LandOnTheNodesTheirTicketsName_AndGarbageFallsBack()
    {
        await using var cluster = await TestCluster.StartAsync(nodes: 2);
        await using var proxy = await ProxyServer.StartAsync(new ProxyOptions { Listen = "127.0.0.1:0" }, cluster.Cluster.Backplane);
        proxy.Policy.ShouldBe(BalancingPolicies.Ticket);
        await WaitAsync(() => proxy.Backends.Count == 2, "both nodes' heartbeats");

        // Several of each, so a policy that only happened to pick right would be caught.
        var clients = new List<RawClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                foreach (var node in new[] { "node-1", "node-2" })
                {
                    var client = await RawClient.OpenAsync(proxy.WsUrl("/" + cluster.TicketUrl($"user-{i}", node).Query));
                    clients.Add(client);
                    var welcome = await client.ReceiveAsync($"the welcome of user-{i} on {node}");
                    welcome.GetProperty("node").GetString().ShouldBe(node);
                }
            }

            // A token that is no JWT: the fallback (least-loaded) places it, and the node it lands on refuses it.
            await using var garbage = await RawClient.OpenAsync(proxy.WsUrl("/?token=garbage"));
            (await garbage.ReceiveCloseAsync("the node to refuse a garbage ticket")).ShouldBe(1008);
            // Without a token too: the proxy still forwards, and the node says what is missing.
            await using var none = await RawClient.OpenAsync(proxy.WsUrl("/"));
            (await none.ReceiveCloseAsync("the node to refuse a missing ticket")).ShouldBe(1008);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
