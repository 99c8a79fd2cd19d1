using Microsoft.AspNetCore.Http;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Publish;

namespace Switchboard.Gateway.Admin;

/// <summary>The admin key check the admin endpoints share: a valid key in <c>X-Admin-Key</c>, else 401.</summary>
internal static class AdminKeyGate
{
    /// <summary>True when the request carries a valid admin key; otherwise answers 401 <c>unauthorized</c> and returns false.</summary>
    public static async ValueTask<bool> AdmitsAsync(this ApiKeyChecker adminKeys, HttpContext context)
    {
        if (adminKeys.IsValid(context.Request.Headers[GatewayRoutes.AdminKeyHeader].FirstOrDefault()))
        {
            return true;
        }
        await HttpAnswers.UnauthorizedAsync(context, GatewayErrorCodes.Unauthorized,
            $"an admin key is required in the {GatewayRoutes.AdminKeyHeader} header (Gateway:AdminKeys)", bearer: false).ConfigureAwait(false);
        return false;
    }
}
