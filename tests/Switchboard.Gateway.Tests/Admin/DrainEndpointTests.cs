using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Switchboard.Backplane;
using Switchboard.Backplane.Control;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Admin;

/// <summary>
/// The body of <c>POST /v1/admin/nodes/{id}/drain</c>: only empty, <c>{}</c> and <c>{"count":N≥1}</c> are accepted; anything
/// else is 400 and leaves the node alone (a lenient read turned a mistyped partial drain into a full one).
/// </summary>
public sealed class DrainEndpointTests
{
    private const string AdminKey = "admin-key-for-drain-tests";

    private static readonly HttpClient Http = new() { Timeout = Eventually.DefaultTimeout };

    public static TheoryData<string> BadBodies => new()
    {
        """{"Count":5}""",
        """{"COUNT":5}""",
        """{"cnt":5}""",
        """{"count":null}""",
        """{"count":1,"extra":2}""",
        """{"count":1,"count":2}""",
        "null",
        "[]",
        """[{"count":1}]""",
        "5",
        "\"count\"",
        "true",
        """{"count":"5"}""",
        """{"count":5.5}""",
        """{"count":1e2}""",
        """{"count":true}""",
        """{"count":{}}""",
        """{"count":[5]}""",
        """{"count":0}""",
        """{"count":-3}""",
        """{"count":2147483648}""",
        """{"count":5}x""",
        """{"count":5} {"count":6}""",
        "{}{}",
        "{",
        """{"count":5,}""",
        """{"count":5 /* five */}""",
        "   ",
        new string(' ', 2000) + "{}",
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadBody_Is400BadRequest_AndTheNodeIsNotDrained(string body)
    {
        // A real node of its own per case, so one body that got through cannot make the others fail.
        await using var cluster = await TestCluster.StartAsync(nodes: 1, o =>
        {
            var gateway = o.ConfigureGateway;
            o.ConfigureGateway = g =>
            {
                gateway?.Invoke(g);
                g.AdminKeys = [AdminKey];
            };
        });
        var node = cluster.Cluster.Node("node-1").Node;

        using var response = await DrainAsync(cluster.Gateway, body);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var error = (await response.JsonAsync()).GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("bad_request");
        error.GetProperty("message").GetString()!.ShouldContain("count");
        node.IsDraining.ShouldBeFalse();
        node.IsReady.ShouldBeTrue();
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("{}", null)]
    [InlineData(" {\n} \n", null)]
    [InlineData("""{"count":1}""", 1)]
    [InlineData(""" { "count" : 5 } """, 5)]
    [InlineData("""{"count":2147483647}""", int.MaxValue)]
    public async Task GoodBody_IsRelayedToTheNode_AsAFullOrPartialDrain(string? body, int? count)
    {
        await using var host = await GatewayHost.StartAsync(o => o.AdminKeys = [AdminKey]);
        var inbox = await host.JoinFakeNodeAsync("node-1", new DrainRecordingInbox());

        using var response = await DrainAsync(host.BaseAddress, body);

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        inbox.Requests.ShouldHaveSingleItem().Count.ShouldBe(count);
    }

    private static Task<HttpResponseMessage> DrainAsync(Uri gateway, string? body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, "/v1/admin/nodes/node-1/drain"));
        request.Headers.Add("X-Admin-Key", AdminKey);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        return Http.SendAsync(request).WithTimeout("POST drain");
    }

    /// <summary>A fake node that records the drain requests it is asked and answers them.</summary>
    private sealed class DrainRecordingInbox : INodeInbox
    {
        private readonly ConcurrentQueue<DrainRequest> _requests = new();

        public IReadOnlyList<DrainRequest> Requests => _requests.ToArray();

        public void OnMessage(RoutedMessage message)
        {
        }

        public ValueTask<byte[]> OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
        {
            kind.ShouldBe(NodeControlMessages.DrainKind);
            var request = NodeControlMessages.ReadDrain(body);
            _requests.Enqueue(request);
            return ValueTask.FromResult(NodeControlMessages.Write(new DrainAnswer("node-1", request.Count ?? 0, 0, request.Count is null)));
        }
    }
}
