using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Switchboard.Security.Tickets;
using Switchboard.Security.UserTokens;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Connect;

public sealed class ConnectEndpointTests
{
    [Fact]
    public async Task Connect_WithoutCredentials_Is401WithBearerChallenge()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.PostAsync("/v1/connect", null).WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ToString().ShouldStartWith("Bearer");
        (await response.ErrorCodeAsync()).ShouldBe("unauthorized");
    }

    [Fact]
    public async Task Connect_WithBadToken_Is401InvalidTokenWithTheReason()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");
        var forged = new UserTokenIssuer("another-secret-that-is-long-enough-0123456789").Issue("alice", TimeSpan.FromMinutes(5));

        var response = await SendAsync(host, HttpMethod.Post, "/v1/connect", bearer: forged);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var error = (await response.JsonAsync()).GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("invalid_token");
        error.GetProperty("message").GetString().ShouldBe("the token's signature is invalid");
    }

    [Fact]
    public async Task Connect_WithValidToken_ReturnsATicketForTheChosenNode()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await host.ConnectAsync("alice");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        var body = await response.JsonAsync();
        body.GetProperty("node").GetString().ShouldBe("node-1");
        body.GetProperty("url").GetString().ShouldBe(GatewayHost.NodeUrl("node-1"));
        var expiresAt = body.GetProperty("expiresAt").GetDateTimeOffset();
        expiresAt.ShouldBeInRange(DateTimeOffset.UtcNow.AddSeconds(25), DateTimeOffset.UtcNow.AddSeconds(31));

        var ticket = await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync(body.GetProperty("token").GetString())
            .WithTimeout("ticket validation");
        ticket.IsValid.ShouldBeTrue();
        ticket.Ticket!.UserId.ShouldBe("alice");
        ticket.Ticket.SessionId.Length.ShouldBe(22);
        ticket.Ticket.ExpiresAt.ShouldBe(expiresAt);
        (await new TicketValidator(GatewayHost.ClusterSecret, "node-2").ValidateAsync(body.GetProperty("token").GetString())
            .WithTimeout("ticket validation")).Failure.ShouldBe(TicketFailure.WrongNode);
    }

    [Fact]
    public async Task Connect_WithAnRs256Token_IsCheckedAgainstThePublicKey()
    {
        using var rsa = RSA.Create(2048);
        await using var host = await GatewayHost.StartAsync(o =>
        {
            o.UserTokens.Secret = null;
            o.UserTokens.PublicKeyPem = rsa.ExportSubjectPublicKeyInfoPem();
        });
        await host.HeartbeatAsync("node-1");
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object> { ["sub"] = "carol" },
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256),
        });

        (await SendAsync(host, HttpMethod.Post, "/v1/connect", bearer: token)).StatusCode.ShouldBe(HttpStatusCode.OK);
        // An HS256 token is refused by an RS256 gateway.
        (await SendAsync(host, HttpMethod.Post, "/v1/connect", bearer: host.UserToken("carol"))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Connect_WithAnExpiredToken_Is401InvalidToken()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");
        var expired = new UserTokenIssuer(GatewayHost.UserSecret, new ManualTimeProvider(DateTimeOffset.UtcNow.AddHours(-1)))
            .Issue("alice", TimeSpan.FromMinutes(5));

        var response = await SendAsync(host, HttpMethod.Post, "/v1/connect", bearer: expired);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString().ShouldBe("the token has expired");
    }

    [Fact]
    public async Task Connect_GivesEachCallAFreshSession()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");
        var validator = new TicketValidator(GatewayHost.ClusterSecret, "node-1");

        var sessions = new HashSet<string>();
        for (var i = 0; i < 3; i++)
        {
            var token = (await (await host.ConnectAsync("alice")).JsonAsync()).GetProperty("token").GetString();
            sessions.Add((await validator.ValidateAsync(token).WithTimeout("ticket")).Ticket!.SessionId);
        }

        sessions.Count.ShouldBe(3);
    }

    [Fact]
    public async Task Connect_InDevMode_AcceptsAnUnsignedUserId()
    {
        await using var host = await GatewayHost.StartAsync(o => o.DevMode = true);
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.PostAsJsonAsync("/v1/connect", new { userId = "alice" }).WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var token = (await response.JsonAsync()).GetProperty("token").GetString();
        (await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync(token).WithTimeout("ticket")).Ticket!.UserId.ShouldBe("alice");
    }

    [Fact]
    public async Task Connect_InDevModeWithoutUserTokenKeys_StillAcceptsUnsignedUserIds()
    {
        await using var host = await GatewayHost.StartAsync(o =>
        {
            o.DevMode = true;
            o.UserTokens.Secret = null;
        });
        await host.HeartbeatAsync("node-1");

        (await host.Client.PostAsJsonAsync("/v1/connect", new { userId = "alice" }).WithTimeout("connect")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.ConnectAsync("alice")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Connect_WithDevModeOff_RejectsAnUnsignedBody()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.PostAsJsonAsync("/v1/connect", new { userId = "alice" }).WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.ErrorCodeAsync()).ShouldBe("unauthorized");
    }

    [Fact]
    public async Task Connect_InDevModeWithAnEmptyBody_Is401()
    {
        await using var host = await GatewayHost.StartAsync(o => o.DevMode = true);
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.PostAsync("/v1/connect", new StringContent("")).WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.ErrorCodeAsync()).ShouldBe("unauthorized");
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("{\"userId\":42}")]
    [InlineData("{\"userId\":\"\"}")]
    [InlineData("{}")]
    public async Task Connect_InDevModeWithAMalformedBody_Is400(string body)
    {
        await using var host = await GatewayHost.StartAsync(o => o.DevMode = true);
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.PostAsync("/v1/connect", new StringContent(body, Encoding.UTF8, "application/json")).WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe("bad_request");
    }

    [Fact]
    public async Task ConnectGet_InDevMode_TakesTheUserIdFromTheQuery()
    {
        await using var host = await GatewayHost.StartAsync(o => o.DevMode = true);
        await host.HeartbeatAsync("node-1");

        var response = await host.Client.GetAsync("/v1/connect?userId=alice").WithTimeout("connect");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("node").GetString().ShouldBe("node-1");
    }

    [Fact]
    public async Task ConnectGet_WithRedirect_Is307ToTheNodeWithTheTicket()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Get, "/v1/connect?redirect=true", bearer: host.UserToken("alice"));

        response.StatusCode.ShouldBe(HttpStatusCode.TemporaryRedirect);
        var location = response.Headers.Location!.OriginalString;
        location.ShouldStartWith(GatewayHost.NodeUrl("node-1") + "?token=");
        var token = Uri.UnescapeDataString(location[(location.IndexOf("?token=", StringComparison.Ordinal) + 7)..]);
        (await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync(token).WithTimeout("ticket")).IsValid.ShouldBeTrue();
    }

    [Fact]
    public async Task ConnectGet_WithoutRedirect_AnswersJson()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Get, "/v1/connect", bearer: host.UserToken("alice"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("url").GetString().ShouldBe(GatewayHost.NodeUrl("node-1"));
    }

    [Fact]
    public async Task Connect_WithNoNodes_Is503NoNodes()
    {
        await using var host = await GatewayHost.StartAsync();

        var response = await host.ConnectAsync("alice");

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));
        (await response.ErrorCodeAsync()).ShouldBe("no_nodes");
    }

    [Fact]
    public async Task Connect_WhenEveryNodeIsDrainingOrFull_Is503ClusterFull()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1", draining: true);
        await host.HeartbeatAsync("node-2", draining: true);
        await host.HeartbeatAsync("node-3", connections: 10, capacity: 10);

        var response = await host.ConnectAsync("alice");

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        response.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));
        (await response.ErrorCodeAsync()).ShouldBe("cluster_full");
    }

    [Fact]
    public async Task TicketsNeverUsed_HoldTheNodeFullOnlyForThePendingPlacementTime_NotTheTicketLifetime()
    {
        var time = new ManualTimeProvider();
        await using var host = await GatewayHost.StartAsync(time: time);
        await host.HeartbeatAsync("node-1", capacity: 3);
        // Three tickets whose clients never dial: the node's estimate is at its capacity.
        for (var i = 0; i < 3; i++)
        {
            (await host.ConnectAsync($"idle-{i}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        var refused = await host.ConnectAsync("alice");
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await refused.ErrorCodeAsync()).ShouldBe("cluster_full");

        // The node's heartbeats go on, never showing those connections; well within the tickets' 30 s.
        var pendingTime = new GatewayOptions().PendingPlacementTime;
        pendingTime.ShouldBeLessThan(new GatewayOptions().TicketLifetime);
        for (var waited = TimeSpan.Zero; waited <= pendingTime; waited += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await host.HeartbeatAsync("node-1", capacity: 3);
        }

        (await host.ConnectAsync("alice")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ClientsDiallingAfterTheirPlacementLapsed_DoNotMakeTheNodeLookEmptierThanItIs()
    {
        var time = new ManualTimeProvider();
        await using var host = await GatewayHost.StartAsync(time: time);
        var pendingTime = new GatewayOptions().PendingPlacementTime;
        await host.HeartbeatAsync("node-1", capacity: 4, arrivals: 10);
        // Batch A: two clients of a reconnect storm, slow to dial.
        (await host.ConnectAsync("a-1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.ConnectAsync("a-2")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // The node's heartbeats go on (every second), not showing them, until their placements lapse.
        for (var waited = TimeSpan.Zero; waited <= pendingTime; waited += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await host.HeartbeatAsync("node-1", capacity: 4, arrivals: 10);
        }
        // Batch B: two more, whose clients have not dialled yet.
        (await host.ConnectAsync("b-1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.ConnectAsync("b-2")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A's clients arrive, with tickets still good: 2 connected and B's 2 on their way fill the node.
        time.Advance(TimeSpan.FromSeconds(1));
        await host.HeartbeatAsync("node-1", connections: 2, capacity: 4, arrivals: 12);

        var refused = await host.ConnectAsync("c-1");
        refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, "a fifth client would be turned away by the node of four (1013)");
        (await refused.ErrorCodeAsync()).ShouldBe("cluster_full");
    }

    [Fact]
    public async Task APlacement_CountsUntilTwoHeartbeatIntervals_WhenThePendingPlacementTimeIsShorter()
    {
        var time = new ManualTimeProvider();
        await using var host = await GatewayHost.StartAsync(o => o.HeartbeatInterval = TimeSpan.FromSeconds(5), time);
        new GatewayOptions().PendingPlacementTime.ShouldBeLessThanOrEqualTo(TimeSpan.FromSeconds(5));
        await host.HeartbeatAsync("node-1", capacity: 1);
        (await host.ConnectAsync("alice")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The next heartbeat is due: it has not come yet, so it cannot have shown alice's connection.
        time.Advance(TimeSpan.FromSeconds(6));

        (await host.ConnectAsync("bob")).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, "alice is still on her way");
        await host.HeartbeatAsync("node-1", connections: 1, capacity: 1, arrivals: 1);
        (await host.ConnectAsync("bob")).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, "alice is there");
    }

    [Fact]
    public async Task Connect_ThreeHundredTimes_SpreadsOverThreeIdleNodesWithinTenPercent()
    {
        // One heartbeat per node, and every placement's pending count, must outlast 300 placements on a slow machine.
        await using var host = await GatewayHost.StartAsync(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMinutes(1);
            o.PendingPlacementTime = TimeSpan.FromMinutes(1);
        });
        foreach (var node in new[] { "node-1", "node-2", "node-3" })
        {
            await host.HeartbeatAsync(node, capacity: 10_000);
        }
        var token = host.UserToken("alice");

        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 300; i++)
        {
            var response = await SendAsync(host, HttpMethod.Post, "/v1/connect", bearer: token);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var node = (await response.JsonAsync()).GetProperty("node").GetString()!;
            counts[node] = counts.GetValueOrDefault(node) + 1;
        }

        counts.Count.ShouldBe(3);
        counts.Values.ShouldAllBe(c => c >= 90 && c <= 110);
    }

    [Fact]
    public async Task Connect_NeverPlacesOnANodeWhoseHeartbeatsStopped()
    {
        var time = new ManualTimeProvider();
        await using var host = await GatewayHost.StartAsync(o =>
        {
            o.DevMode = true;
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
        }, time);
        foreach (var node in new[] { "node-1", "node-2", "node-3" })
        {
            await host.HeartbeatAsync(node);
        }
        (await PlaceManyAsync(host, 30)).ShouldContain("node-3");

        time.Advance(TimeSpan.FromMilliseconds(250));
        await host.HeartbeatAsync("node-1");
        await host.HeartbeatAsync("node-2");
        time.Advance(TimeSpan.FromMilliseconds(200));

        (await PlaceManyAsync(host, 30)).ShouldBe(["node-1", "node-2"], ignoreOrder: true);
        var listed = (await (await host.Client.GetAsync("/v1/nodes").WithTimeout("nodes")).JsonAsync()).GetProperty("nodes")
            .EnumerateArray().Select(n => n.GetProperty("nodeId").GetString()).ToArray();
        listed.ShouldBe(["node-1", "node-2"]);
    }

    private static async Task<IReadOnlySet<string>> PlaceManyAsync(GatewayHost host, int count)
    {
        var nodes = new HashSet<string>();
        for (var i = 0; i < count; i++)
        {
            var response = await host.Client.GetAsync("/v1/connect?userId=alice").WithTimeout("connect");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            nodes.Add((await response.JsonAsync()).GetProperty("node").GetString()!);
        }
        return nodes;
    }

    [Fact]
    public async Task Connect_WithASession_IssuesAResumeTicketForThatSession()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, "/v1/connect?session=UQ3KdWAMrAfDDecX745nCQ", bearer: host.UserToken("alice"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var ticket = await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync((await response.JsonAsync()).GetProperty("token").GetString())
            .WithTimeout("ticket validation");
        ticket.Ticket!.SessionId.ShouldBe("UQ3KdWAMrAfDDecX745nCQ");
        ticket.Ticket.Resume.ShouldBeTrue();
    }

    [Fact]
    public async Task Connect_WithoutASession_IssuesAFreshTicket()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await host.ConnectAsync("alice");

        var ticket = await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync((await response.JsonAsync()).GetProperty("token").GetString())
            .WithTimeout("ticket validation");
        ticket.Ticket!.Resume.ShouldBeFalse();
    }

    [Theory]
    [InlineData("has%20space")]
    [InlineData("")]
    [InlineData("a/b")]
    public async Task Connect_WithAMalformedSession_Is400InvalidSession(string session)
    {
        await using var host = await GatewayHost.StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={session}", bearer: host.UserToken("alice"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe("invalid_session");
    }

    private static Task<HttpResponseMessage> SendAsync(GatewayHost host, HttpMethod method, string path, string bearer)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return host.Client.SendAsync(request).WithTimeout($"{method} {path}");
    }
}
