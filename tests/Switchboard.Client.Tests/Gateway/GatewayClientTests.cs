using System.Net;
using Switchboard.Client.Gateway;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests.Gateway;

public sealed class GatewayClientTests
{
    private static SwitchboardClientOptions DevOptions(HttpMessageHandler handler) => new()
    {
        GatewayUrl = new Uri("http://127.0.0.1:7000"),
        DevUserId = "alice",
        HttpHandler = handler,
    };

    [Theory]
    [InlineData("http://127.0.0.1:7000", "http://127.0.0.1:7000/v1/connect")]
    [InlineData("http://127.0.0.1:7000/", "http://127.0.0.1:7000/v1/connect")]
    [InlineData("https://example.test/switchboard", "https://example.test/switchboard/v1/connect")]
    [InlineData("https://example.test/switchboard/?x=1", "https://example.test/switchboard/v1/connect")]
    public void ConnectUri_KeepsThePathPrefix(string gateway, string expected)
    {
        GatewayClient.ConnectUri(new Uri(gateway)).ShouldBe(new Uri(expected));
    }

    [Theory]
    [InlineData("ws://127.0.0.1:7001/v1/ws", "a.b+c/d=", "ws://127.0.0.1:7001/v1/ws?token=a.b%2Bc%2Fd%3D")]
    [InlineData("ws://127.0.0.1:7001/v1/ws?x=1", "t", "ws://127.0.0.1:7001/v1/ws?x=1&token=t")]
    [InlineData("http://127.0.0.1:7001/v1/ws", "t", "ws://127.0.0.1:7001/v1/ws?token=t")]
    [InlineData("https://node.test/v1/ws", "t", "wss://node.test/v1/ws?token=t")]
    public void DialUri_CarriesTheEscapedTicket(string url, string token, string expected)
    {
        ConnectTicket.BuildDialUri(new Uri(url), token).AbsoluteUri.ShouldBe(expected);
    }

    [Fact]
    public async Task DevMode_PostsTheUserIdWithoutAuthorization()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Ticket("ws://127.0.0.1:7001/v1/ws"));
        using var gateway = new GatewayClient(DevOptions(handler));

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Ticket.ShouldNotBeNull().Node.ShouldBe("node-1");
        answer.Ticket.Token.ShouldBe("ticket-1");
        answer.Ticket.ExpiresAt.ShouldBe(new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero));
        var request = handler.Requests.Single();
        request.Method.ShouldBe(HttpMethod.Post);
        request.Uri.ShouldBe(new Uri("http://127.0.0.1:7000/v1/connect"));
        request.Authorization.ShouldBeNull();
        request.ContentType.ShouldBe("application/json");
        request.Body.ShouldBe("""{"userId":"alice"}""");
    }

    [Fact]
    public async Task TokenProvider_IsAskedOnEveryRequest_AndSentAsBearer()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Ticket("ws://127.0.0.1:7001/v1/ws"));
        var calls = 0;
        var options = DevOptions(handler);
        options.DevUserId = null;
        options.TokenProvider = _ => ValueTask.FromResult($"jwt-{Interlocked.Increment(ref calls)}");
        using var gateway = new GatewayClient(options);

        await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("first answer");
        await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("second answer");

        handler.Requests.Select(r => r.Authorization).ShouldBe(["Bearer jwt-1", "Bearer jwt-2"]);
        handler.Requests.First().Body.ShouldBe("{}");
    }

    [Fact]
    public async Task TokenProviderFailure_IsWorthRetrying()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Ticket("ws://127.0.0.1:7001/v1/ws"));
        var options = DevOptions(handler);
        options.DevUserId = null;
        options.TokenProvider = _ => throw new InvalidOperationException("auth server down");
        using var gateway = new GatewayClient(options);

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Permanent.ShouldBeFalse();
        answer.Error.ShouldNotBeNull().Message.ShouldContain("auth server down");
        handler.Count.ShouldBe(0);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "invalid_token", SwitchboardErrorReason.Unauthorized)]
    [InlineData(HttpStatusCode.Unauthorized, "unauthorized", SwitchboardErrorReason.Unauthorized)]
    [InlineData(HttpStatusCode.Forbidden, "forbidden", SwitchboardErrorReason.Unauthorized)]
    [InlineData(HttpStatusCode.BadRequest, "bad_request", SwitchboardErrorReason.Rejected)]
    public async Task ClientErrors_ArePermanent(HttpStatusCode status, string code, SwitchboardErrorReason reason)
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(status, code, "no"));
        using var gateway = new GatewayClient(DevOptions(handler));

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Permanent.ShouldBeTrue();
        var error = answer.Error.ShouldNotBeNull();
        error.Reason.ShouldBe(reason);
        error.HttpStatus.ShouldBe((int)status);
        error.Code.ShouldBe(code);
    }

    [Theory]
    [InlineData("no_nodes")]
    [InlineData("cluster_full")]
    public async Task ServiceUnavailable_IsTransient_WithRetryAfter(string code)
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, code, "later", TimeSpan.FromSeconds(3)));
        using var gateway = new GatewayClient(DevOptions(handler));

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Permanent.ShouldBeFalse();
        answer.RetryAfter.ShouldBe(TimeSpan.FromSeconds(3));
        answer.Error.ShouldNotBeNull().Code.ShouldBe(code);
        answer.Error.Reason.ShouldBe(SwitchboardErrorReason.Unavailable);
    }

    [Fact]
    public async Task RetryAfterDate_IsMeasuredOnTheClientsClock()
    {
        var time = new ManualTimeProvider();
        var handler = new FakeGatewayHandler(_ =>
        {
            var response = FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "no_nodes", "later");
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(time.GetUtcNow().AddSeconds(5));
            return response;
        });
        var options = DevOptions(handler);
        options.TimeProvider = time;
        using var gateway = new GatewayClient(options);

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.RetryAfter.ShouldBe(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ServerErrorWithoutJson_IsTransient()
    {
        var handler = new FakeGatewayHandler(_ => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("<html>bad gateway</html>") });
        using var gateway = new GatewayClient(DevOptions(handler));

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Permanent.ShouldBeFalse();
        answer.Error.ShouldNotBeNull().HttpStatus.ShouldBe(502);
    }

    [Fact]
    public async Task UnreachableGateway_IsTransient()
    {
        var options = new SwitchboardClientOptions { GatewayUrl = new Uri("http://127.0.0.1:1"), DevUserId = "alice" };
        using var gateway = new GatewayClient(options);

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Permanent.ShouldBeFalse();
        answer.Error.ShouldNotBeNull().Reason.ShouldBe(SwitchboardErrorReason.Unavailable);
    }

    [Theory]
    [InlineData("""{"token":"t","node":"n"}""")]
    [InlineData("""{"url":"not a url","token":"t"}""")]
    [InlineData("""{"url":"ws://127.0.0.1:7001/v1/ws"}""")]
    [InlineData("""not json""")]
    public async Task OkWithoutAUsableTicket_IsAProtocolViolationWorthRetrying(string body)
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Json(HttpStatusCode.OK, body));
        using var gateway = new GatewayClient(DevOptions(handler));

        var answer = await gateway.RequestTicketAsync(null, null, CancellationToken.None).WithTimeout("gateway answer");

        answer.Ticket.ShouldBeNull();
        answer.Permanent.ShouldBeFalse();
        answer.Error.ShouldNotBeNull().Reason.ShouldBe(SwitchboardErrorReason.ProtocolViolation);
    }
}
