using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Placement;
using Switchboard.Protocol;
using Switchboard.Security.Tickets;

namespace Switchboard.Gateway.Connect;

/// <summary>
/// <c>POST|GET /v1/connect</c>: authenticate the user (or a failover proxy, which gets resume-only tickets), place them
/// on a node, and hand out a ticket for it.
/// </summary>
internal sealed class ConnectEndpoint(
    UserAuthenticator authenticator,
    ProxyKeyAuthenticator proxyAuthenticator,
    NodePlacer placer,
    TicketIssuer issuer,
    TimeSpan ticketLifetime,
    ILogger<ConnectEndpoint> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        var fromProxy = ProxyKeyAuthenticator.IsProxyRequest(context.Request);
        var authentication = fromProxy
            ? await proxyAuthenticator.AuthenticateAsync(context).ConfigureAwait(false)
            : await authenticator.AuthenticateAsync(context).ConfigureAwait(false);
        if (!authentication.IsAuthenticated)
        {
            logger.ConnectRefused(authentication.Code!, authentication.Message!);
            if (authentication.Status == StatusCodes.Status401Unauthorized)
            {
                await HttpAnswers.UnauthorizedAsync(context, authentication.Code!, authentication.Message!, bearer: !fromProxy).ConfigureAwait(false);
            }
            else
            {
                await HttpAnswers.ErrorAsync(context, authentication.Status, authentication.Code!, authentication.Message!).ConfigureAwait(false);
            }
            return;
        }
        var userId = authentication.UserId!;
        // A reconnecting client names its session to resume it; the node it lands on checks with the session's node
        // that the session is this user's, so the gateway needs no session state.
        var resumeSession = context.Request.Query[WireNames.SessionQueryParameter].FirstOrDefault();
        if (resumeSession is not null && !SessionIds.IsWellFormed(resumeSession))
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.InvalidSession,
                "'session' must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'").ConfigureAwait(false);
            return;
        }
        var standbyOf = context.Request.Query[WireNames.StandbyQueryParameter].FirstOrDefault();
        if (standbyOf is not null && (!SessionIds.IsWellFormed(standbyOf) || resumeSession is not null))
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.InvalidSession,
                "'standby' must be a session id (1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'), and not asked with 'session'").ConfigureAwait(false);
            return;
        }
        var avoid = context.Request.Query[WireNames.AvoidQueryParameter].FirstOrDefault();
        var placement = placer.Place(new PlacementRequest(userId, string.IsNullOrEmpty(avoid) ? null : avoid));
        if (placement.Node is not { } node)
        {
            logger.PlacementFailed(userId, placement.FailureCode!);
            var message = placement.FailureCode == GatewayErrorCodes.NoNodes
                ? "no node is live; try again shortly"
                : "every node is draining or full; try again shortly";
            await HttpAnswers.UnavailableAsync(context, placement.FailureCode!, message).ConfigureAwait(false);
            return;
        }
        var sessionId = resumeSession ?? SessionIds.New();
        var (token, ticket) = issuer.Issue(userId, node.NodeId, sessionId, ticketLifetime, resume: resumeSession is not null, resumeOnly: authentication.ResumeOnly,
            standbyOf: standbyOf);
        logger.Placed(userId, node.NodeId, sessionId, placer.PolicyName);
        // A ticket is a credential: never let a cache keep or replay it.
        context.Response.Headers[HeaderNames.CacheControl] = "no-store";
        var url = node.Heartbeat.Url;
        if (HttpMethods.IsGet(context.Request.Method) && WantsRedirect(context.Request))
        {
            var separator = url.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers[HeaderNames.Location] = $"{url}{separator}{WireNames.TokenQueryParameter}={Uri.EscapeDataString(token)}";
            return;
        }
        await HttpAnswers.JsonAsync(context, StatusCodes.Status200OK,
            new ConnectResponse(url, token, node.NodeId, ticket.ExpiresAt), GatewayJsonContext.Default.ConnectResponse).ConfigureAwait(false);
    }

    private static bool WantsRedirect(HttpRequest request) =>
        request.Query.TryGetValue(GatewayRoutes.RedirectQueryParameter, out var value) &&
        (string.Equals(value.ToString(), "true", StringComparison.OrdinalIgnoreCase) || value.ToString() == "1");
}
