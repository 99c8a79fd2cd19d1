using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Publish;
using Switchboard.Protocol;

namespace Switchboard.Gateway.Connect;

/// <summary>
/// Authenticates a failover proxy on <c>/v1/connect</c>: a key of <c>Gateway:ProxyKeys</c> in <c>X-Proxy-Key</c>. The
/// proxy holds no user credentials, only the session it saw welcomed, so the key buys exactly what moving that session
/// needs: <c>POST /v1/connect?session=…</c> with <c>{"userId":…}</c>, answered with a resume-only ticket (the node
/// closes it unless it continues that user's session), or <c>?standby=…</c>, answered with a standby ticket (the node
/// closes it unless that user's session is live somewhere). It never buys a session of a user who has none, a GET or a
/// redirect.
/// </summary>
internal sealed class ProxyKeyAuthenticator(ApiKeyChecker proxyKeys)
{
    private const string ResumeOnlyMessage =
        "a proxy key only asks for resume or standby tickets: POST /v1/connect?session=<session> (or ?standby=<session>) with {\"userId\":\"…\"}";

    /// <summary>True when the request carries a proxy key, so this class (not the user path) answers it.</summary>
    public static bool IsProxyRequest(HttpRequest request) => request.Headers.ContainsKey(GatewayRoutes.ProxyKeyHeader);

    public async Task<UserAuthentication> AuthenticateAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Headers[HeaderNames.Authorization].Count > 0)
        {
            return UserAuthentication.Failure(StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest,
                $"send either 'Authorization' or '{GatewayRoutes.ProxyKeyHeader}', not both");
        }
        var presented = request.Headers[GatewayRoutes.ProxyKeyHeader];
        if (presented.Count != 1 || !proxyKeys.IsValid(presented[0]))
        {
            return UserAuthentication.Failure(StatusCodes.Status401Unauthorized, GatewayErrorCodes.Unauthorized,
                $"the {GatewayRoutes.ProxyKeyHeader} header is not a proxy key of this gateway (Gateway:ProxyKeys)");
        }
        // Checked after the key, so an unauthenticated caller learns nothing about what a key would allow.
        if (!HttpMethods.IsPost(request.Method) || request.Query.ContainsKey(GatewayRoutes.RedirectQueryParameter)
            || string.IsNullOrEmpty(request.Query[WireNames.SessionQueryParameter].FirstOrDefault())
            == string.IsNullOrEmpty(request.Query[WireNames.StandbyQueryParameter].FirstOrDefault()))
        {
            return UserAuthentication.Failure(StatusCodes.Status403Forbidden, GatewayErrorCodes.ProxyResumeOnly, ResumeOnlyMessage);
        }
        var user = await UserAuthenticator.ReadUserIdBodyAsync(context).ConfigureAwait(false)
            ?? UserAuthentication.Failure(StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, "the body must be {\"userId\":\"…\"}: the user whose session is resumed");
        // A standby ticket is not resume-only: the node checks the session it stands by instead.
        var resumeOnly = !request.Query.ContainsKey(WireNames.StandbyQueryParameter);
        return user.IsAuthenticated ? UserAuthentication.Success(user.UserId!, resumeOnly: resumeOnly) : user;
    }
}
