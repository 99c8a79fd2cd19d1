using System.Net;
using System.Text;
using Switchboard.Backplane;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Publish;

public sealed class PublishEndpointTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    [InlineData("test-api-ke")]
    public async Task Publish_WithMissingOrWrongKey_Is401(string? key)
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.PublishAsync("""{"to":"all","data":1}""", key);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.ErrorCodeAsync()).ShouldBe("unauthorized");
    }

    [Fact]
    public async Task Publish_WithNoKeysConfigured_IsAlways401()
    {
        await using var host = await GatewayHost.StartAsync(o => o.ApiKeys = []);

        var response = await host.PublishAsync("""{"to":"all","data":1}""", GatewayHost.ApiKey);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("""{"to":"bob","data":1}""", "bad_target")]
    [InlineData("""{"to":"user:","data":1}""", "bad_target")]
    [InlineData("""{"to":42,"data":1}""", "bad_target")]
    [InlineData("""{"data":1}""", "bad_target")]
    [InlineData("""{"to":"all"}""", "bad_request")]
    [InlineData("""[1,2]""", "bad_request")]
    [InlineData("""{"to":"all","data":""", "bad_json")]
    [InlineData("", "bad_json")]
    public async Task Publish_WithABadBody_Is400(string body, string code)
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.PublishAsync(body);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe(code);
    }

    [Fact]
    public async Task Publish_LargerThanTheLimit_Is413()
    {
        await using var host = await GatewayHost.StartAsync(o => o.MaxPublishBytes = 1024);

        var response = await host.PublishAsync($$"""{"to":"all","data":"{{new string('x', 2000)}}"}""");

        response.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
        (await response.ErrorCodeAsync()).ShouldBe("payload_too_large");
    }

    [Fact]
    public async Task Publish_ChunkedBodyLargerThanTheLimit_Is413WithJson()
    {
        await using var host = await GatewayHost.StartAsync(o => o.MaxPublishBytes = 1024);
        // Chunked, so there is no Content-Length for the gateway to check first. Over a raw socket, and the client stops
        // after one chunk past the limit and reads: an HTTP client still writing a long body when the gateway answers
        // and closes can fail its own write (a broken pipe) before it reads the 413.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port).WithTimeout("the connection");
        var chunk = $$"""{"to":"all","data":"{{new string('x', 2000)}}"}""";
        var head = $"POST /v1/publish HTTP/1.1\r\nHost: {host.BaseAddress.Authority}\r\nX-Api-Key: {GatewayHost.ApiKey}\r\n" +
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
            $"{Encoding.UTF8.GetByteCount(chunk):x}\r\n{chunk}\r\n";
        await socket.SendAsync(Encoding.UTF8.GetBytes(head)).WithTimeout("the request");

        var response = await ReadResponseAsync(socket).WithTimeout("the answer");

        response.ShouldStartWith("HTTP/1.1 413 ");
        response.ShouldContain("\"payload_too_large\"");
    }

    /// <summary>Reads an HTTP/1.1 response head and as much body as its Content-Length says (or until the server closes).</summary>
    private static async Task<string> ReadResponseAsync(System.Net.Sockets.Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var text = Encoding.UTF8.GetString(received.GetBuffer(), 0, (int)received.Length);
            var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headEnd >= 0)
            {
                var length = text[..headEnd].Split("\r\n").Select(l => l.Split(':', 2)).FirstOrDefault(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase));
                if (length is not null && received.Length >= headEnd + 4 + int.Parse(length[1].Trim(), System.Globalization.CultureInfo.InvariantCulture))
                {
                    return text;
                }
            }
            var read = await socket.ReceiveAsync(buffer);
            if (read == 0)
            {
                return text;
            }
            received.Write(buffer, 0, read);
        }
    }

    [Fact]
    public async Task PublishToUser_ReachesOnlyTheNodeThatHoldsTheUser()
    {
        await using var host = await GatewayHost.StartAsync();
        var nodes = await JoinAsync(host, "node-1", "node-2", "node-3");
        await host.Backplane.PublishPresenceAsync(new PresenceDelta("node-2", 1, ["bob"], []));

        var response = await host.PublishAsync("""{"to":"user:bob","data":{"text":"hi bob"}}""");

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await response.JsonAsync()).GetProperty("accepted").GetBoolean().ShouldBeTrue();
        // A broadcast after it is a barrier: per-node order means anything else for a node would have come first.
        await PublishBarrierAsync(host, nodes);
        nodes["node-1"].Data.ShouldBe(["\"barrier\""]);
        nodes["node-2"].Data.ShouldBe(["""{"text":"hi bob"}""", "\"barrier\""]);
        nodes["node-3"].Data.ShouldBe(["\"barrier\""]);
        var message = nodes["node-2"].Messages[0];
        message.From.ShouldBe("api");
        message.Target.ToString().ShouldBe("user:bob");
        message.OriginNodeId.ShouldBeNull();
    }

    [Fact]
    public async Task APublishWithAnIdempotencyKey_HasTheKeysId_EveryTimeItIsSent()
    {
        await using var host = await GatewayHost.StartAsync(o => o.ApiKeys = [GatewayHost.ApiKey, "another-api-key"]);
        var nodes = await JoinAsync(host, "node-1");

        // The same publish retried (header or field), another key, another API key with the same key, no key.
        (await host.PublishAsync("""{"to":"all","data":1}""", GatewayHost.ApiKey, "order-17")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await host.PublishAsync("""{"to":"all","data":1,"key":"order-17"}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await host.PublishAsync("""{"to":"all","data":2}""", GatewayHost.ApiKey, "order-18")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await host.PublishAsync("""{"to":"all","data":3}""", "another-api-key", "order-17")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await host.PublishAsync("""{"to":"all","data":4}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await PublishBarrierAsync(host, nodes);

        var ids = nodes["node-1"].Messages.Take(5).Select(m => m.Id).ToList();
        ids[1].ShouldBe(ids[0], "one message, however often it is published: the nodes pass on one copy");
        ids[0].ShouldBeLessThan(0, "a key's id, which nodes remember to drop its repeats");
        ids[2].ShouldNotBe(ids[0]);
        ids[3].ShouldNotBe(ids[0], "another API key's keys are its own");
        ids[4].ShouldBeGreaterThan(0);
    }

    [Theory]
    [InlineData("""{"to":"all","data":1,"key":""}""", new string[0])]
    [InlineData("""{"to":"all","data":1,"key":7}""", new string[0])]
    [InlineData("""{"to":"all","data":1}""", new[] { "" })]
    [InlineData("""{"to":"all","data":1,"key":"a"}""", new[] { "b" })]
    public async Task APublishWithABadIdempotencyKey_Is400(string body, string[] headers)
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.PublishAsync(body, GatewayHost.ApiKey, headers);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe("bad_request");
    }

    [Fact]
    public async Task APublishWithAKeyOf65Characters_Is400()
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.PublishAsync("""{"to":"all","data":1}""", GatewayHost.ApiKey, new string('k', 65));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString()!.ShouldContain("Idempotency-Key");
    }

    [Fact]
    public async Task PublishToAll_ReachesEveryJoinedNodeOnce()
    {
        await using var host = await GatewayHost.StartAsync();
        var nodes = await JoinAsync(host, "node-1", "node-2", "node-3");

        (await host.PublishAsync("""{"to":"all","data":[1,2,3]}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        await PublishBarrierAsync(host, nodes);
        foreach (var inbox in nodes.Values)
        {
            inbox.Data.ShouldBe(["[1,2,3]", "\"barrier\""]);
        }
    }

    [Fact]
    public async Task PublishToConnection_ReachesTheNodeNamedInTheConnectionId()
    {
        await using var host = await GatewayHost.StartAsync();
        var nodes = await JoinAsync(host, "node-1", "node-2");

        (await host.PublishAsync("""{"to":"conn:node-2.abc","data":true}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        await PublishBarrierAsync(host, nodes);
        nodes["node-1"].Data.ShouldBe(["\"barrier\""]);
        nodes["node-2"].Data.ShouldBe(["true", "\"barrier\""]);
    }

    [Fact]
    public async Task PublishToGroup_ReachesOnlySubscribedNodes()
    {
        await using var host = await GatewayHost.StartAsync();
        var nodes = await JoinAsync(host, "node-1", "node-2");
        await host.Backplane.SubscribeAsync("node-1", "room1");

        (await host.PublishAsync("""{"to":"group:room1","data":null}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);

        await PublishBarrierAsync(host, nodes);
        nodes["node-1"].Data.ShouldBe(["null", "\"barrier\""]);
        nodes["node-2"].Data.ShouldBe(["\"barrier\""]);
    }

    private static async Task<Dictionary<string, FakeNodeInbox>> JoinAsync(GatewayHost host, params string[] nodeIds)
    {
        var nodes = new Dictionary<string, FakeNodeInbox>();
        foreach (var nodeId in nodeIds)
        {
            nodes[nodeId] = await host.JoinFakeNodeAsync(nodeId);
            await host.HeartbeatAsync(nodeId);
        }
        return nodes;
    }

    private static async Task PublishBarrierAsync(GatewayHost host, Dictionary<string, FakeNodeInbox> nodes)
    {
        (await host.PublishAsync("""{"to":"all","data":"barrier"}""")).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        await Eventually.TrueAsync(() => nodes.Values.All(n => n.Data.Contains("\"barrier\"")), "the barrier reaches every node");
    }
}
