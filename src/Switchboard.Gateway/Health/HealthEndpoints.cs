using Microsoft.AspNetCore.Http;
using Switchboard.Gateway.Http;

namespace Switchboard.Gateway.Health;

/// <summary><c>/healthz</c> (the process answers) and <c>/readyz</c> (the gateway observes the backplane).</summary>
internal sealed class HealthEndpoints(SwitchboardGateway gateway)
{
    public static Task LiveAsync(HttpContext context) =>
        HttpAnswers.JsonAsync(context, StatusCodes.Status200OK, new StatusResponse("live"), GatewayJsonContext.Default.StatusResponse);

    public Task ReadyAsync(HttpContext context) => gateway.IsReady
        ? HttpAnswers.JsonAsync(context, StatusCodes.Status200OK, new StatusResponse("ready"), GatewayJsonContext.Default.StatusResponse)
        : HttpAnswers.JsonAsync(context, StatusCodes.Status503ServiceUnavailable, new StatusResponse("not_ready"), GatewayJsonContext.Default.StatusResponse);
}
