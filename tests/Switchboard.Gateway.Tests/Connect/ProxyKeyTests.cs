using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Switchboard.Security.Tickets;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Connect;

/// <summary>A failover proxy's credential on <c>/v1/connect</c>: resume-only tickets for a named user and session, nothing else.</summary>
public sealed class ProxyKeyTests
{
    private const string ProxyKey = "proxy-key-0123456789-abcdef";
    private const string Session = "UQ3KdWAMrAfDDecX745nCQ";

    private static Task<GatewayHost> StartAsync() => GatewayHost.StartAsync(o =>
    {
        o.ProxyKeys = [ProxyKey];
        o.AdminKeys = ["admin-key-0123456789"];
    });

    private static Task<HttpResponseMessage> SendAsync(GatewayHost host, HttpMethod method, string path, string? key = ProxyKey,
        string? body = """{"userId":"alice"}""", string? bearer = null, string keyHeader = "X-Proxy-Key")
    {
        var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.Add(keyHeader, key);
        }
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        return host.Client.SendAsync(request).WithTimeout($"{method} {path}");
    }

    [Fact]
    public async Task ProxyKey_GetsAResumeOnlyTicketForTheNamedUserAndSession()
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        var body = await response.JsonAsync();
        body.GetProperty("node").GetString().ShouldBe("node-1");
        var ticket = await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync(body.GetProperty("token").GetString())
            .WithTimeout("ticket validation");
        ticket.IsValid.ShouldBeTrue();
        ticket.Ticket!.UserId.ShouldBe("alice");
        ticket.Ticket.SessionId.ShouldBe(Session);
        ticket.Ticket.Resume.ShouldBeTrue();
        ticket.Ticket.ResumeOnly.ShouldBeTrue();
    }

    [Fact]
    public async Task ProxyKey_GetsAStandbyTicket_ForANewSession_OffTheAvoidedNode()
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");
        await host.HeartbeatAsync("node-2");

        for (var i = 0; i < 4; i++)
        {
            var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?standby={Session}&avoid=node-1");

            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var body = await response.JsonAsync();
            body.GetProperty("node").GetString().ShouldBe("node-2");
            var ticket = (await new TicketValidator(GatewayHost.ClusterSecret, "node-2").ValidateAsync(body.GetProperty("token").GetString())
                .WithTimeout("ticket validation")).Ticket!;
            ticket.UserId.ShouldBe("alice");
            ticket.StandbyOf.ShouldBe(Session);
            ticket.SessionId.ShouldNotBe(Session);
            ticket.Resume.ShouldBeFalse();
            ticket.ResumeOnly.ShouldBeFalse();
        }
    }

    [Fact]
    public async Task AvoidedNode_IsStillChosen_WhenNoOtherTakesConnections()
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}&avoid=node-1");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.JsonAsync()).GetProperty("node").GetString().ShouldBe("node-1");
    }

    [Fact]
    public async Task UserResumeTicket_IsNotResumeOnly()
    {
        // The user's own resume ticket keeps its documented fallback (a new session when the resume fails).
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}", key: null, body: null, bearer: host.UserToken("alice"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var ticket = await new TicketValidator(GatewayHost.ClusterSecret, "node-1").ValidateAsync((await response.JsonAsync()).GetProperty("token").GetString())
            .WithTimeout("ticket validation");
        ticket.Ticket!.Resume.ShouldBeTrue();
        ticket.Ticket.ResumeOnly.ShouldBeFalse();
    }

    [Theory]
    [InlineData("wrong-proxy-key-0123456789")]
    [InlineData("")]
    [InlineData("proxy-key-0123456789-abcdeF")]
    public async Task WrongProxyKey_Is401WithAClearErrorAndNoBearerChallenge(string key)
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}", key: key);

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Headers.WwwAuthenticate.ShouldBeEmpty();
        var error = (await response.JsonAsync()).GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("unauthorized");
        error.GetProperty("message").GetString()!.ShouldContain("Gateway:ProxyKeys");
    }

    [Fact]
    public async Task ProxyKey_OnAGatewayWithoutProxyKeys_Is401()
    {
        await using var host = await GatewayHost.StartAsync(o => o.DevMode = true);
        await host.HeartbeatAsync("node-1");

        // Even a dev-mode gateway, which would take the same body without the header, refuses a key it does not hold.
        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}");

        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await response.ErrorCodeAsync()).ShouldBe("unauthorized");
    }

    [Theory]
    [InlineData("POST", "/v1/connect", 403, "proxy_resume_only")]                          // a new session: a fresh identity
    [InlineData("POST", "/v1/connect?session=", 403, "proxy_resume_only")]
    [InlineData("GET", "/v1/connect?session=" + Session + "&userId=alice", 403, "proxy_resume_only")]
    [InlineData("POST", "/v1/connect?session=" + Session + "&redirect=true", 403, "proxy_resume_only")]
    [InlineData("POST", "/v1/connect?session=not%20a%20session", 400, "invalid_session")]
    [InlineData("POST", "/v1/connect?standby=", 403, "proxy_resume_only")]
    [InlineData("POST", "/v1/connect?standby=" + Session + "&session=" + Session, 403, "proxy_resume_only")]
    [InlineData("POST", "/v1/connect?standby=not%20a%20session", 400, "invalid_session")]
    public async Task ProxyKey_AsksForAnythingButAResumeTicket_IsRefused(string method, string path, int status, string code)
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, new HttpMethod(method), path, body: method == "GET" ? null : """{"userId":"alice"}""");

        ((int)response.StatusCode).ShouldBe(status);
        (await response.ErrorCodeAsync()).ShouldBe(code);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("""{"user":"alice"}""")]
    [InlineData("""{"userId":""}""")]
    [InlineData("not json")]
    public async Task ProxyKey_WithoutAUsableUserId_Is400(string? body)
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}", body: body);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe("bad_request");
    }

    [Fact]
    public async Task ProxyKey_WithABearerTokenToo_Is400()
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        var response = await SendAsync(host, HttpMethod.Post, $"/v1/connect?session={Session}", bearer: host.UserToken("mallory"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.ErrorCodeAsync()).ShouldBe("bad_request");
    }

    [Fact]
    public async Task ProxyKey_IsNoPublishOrAdminKey()
    {
        await using var host = await StartAsync();
        await host.HeartbeatAsync("node-1");

        (await host.PublishAsync("""{"to":"user:alice","data":1}""", apiKey: ProxyKey)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await SendAsync(host, HttpMethod.Post, "/v1/admin/nodes/node-1/drain", body: null, keyHeader: "X-Admin-Key")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await SendAsync(host, HttpMethod.Get, "/v1/autoscale", body: null, keyHeader: "X-Admin-Key")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await SendAsync(host, HttpMethod.Get, "/v1/rebalance", body: null, keyHeader: "X-Admin-Key")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }
}
