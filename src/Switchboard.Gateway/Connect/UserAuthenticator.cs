using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Switchboard.Gateway.Http;
using Switchboard.Protocol;
using Switchboard.Security.UserTokens;

namespace Switchboard.Gateway.Connect;

/// <summary>Who is asking to connect, or why the gateway refuses to say.</summary>
/// <param name="UserId">The authenticated user, when <see cref="IsAuthenticated"/>.</param>
/// <param name="Status">The HTTP status of the refusal.</param>
/// <param name="Code">The error code of the refusal.</param>
/// <param name="Message">A sentence for the caller.</param>
/// <param name="ResumeOnly">The caller is a proxy (proxy key): it gets a resume-only ticket for the session it names.</param>
internal readonly record struct UserAuthentication(string? UserId, int Status, string? Code, string? Message, bool ResumeOnly = false)
{
    public bool IsAuthenticated => UserId is not null;

    public static UserAuthentication Success(string userId, bool resumeOnly = false) => new(userId, StatusCodes.Status200OK, null, null, resumeOnly);

    public static UserAuthentication Failure(int status, string code, string message) => new(null, status, code, message);
}

/// <summary>
/// Authenticates <c>/v1/connect</c>: a bearer user JWT, or in dev mode an unsigned user id when no
/// <c>Authorization</c> header is sent (JSON body on POST, query on GET).
/// </summary>
internal sealed class UserAuthenticator(UserTokenValidator? validator, bool devMode)
{
    private const int MaxDevBodyBytes = 16 * 1024;
    private const string BearerPrefix = "Bearer ";

    public async Task<UserAuthentication> AuthenticateAsync(HttpContext context)
    {
        var header = context.Request.Headers[HeaderNames.Authorization].ToString();
        if (header.Length > 0)
        {
            return await AuthenticateBearerAsync(header).ConfigureAwait(false);
        }
        if (!devMode)
        {
            return MissingCredentials();
        }
        return HttpMethods.IsGet(context.Request.Method)
            ? FromQuery(context.Request)
            : await FromBodyAsync(context).ConfigureAwait(false);
    }

    private async Task<UserAuthentication> AuthenticateBearerAsync(string header)
    {
        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) || header.Length == BearerPrefix.Length)
        {
            return MissingCredentials();
        }
        if (validator is null)
        {
            return UserAuthentication.Failure(StatusCodes.Status401Unauthorized, GatewayErrorCodes.InvalidToken,
                "this gateway runs in dev mode without Gateway:UserTokens, so it cannot check bearer tokens; send {\"userId\":…} without an Authorization header");
        }
        var validation = await validator.ValidateAsync(header[BearerPrefix.Length..].Trim()).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            return UserAuthentication.Failure(StatusCodes.Status401Unauthorized, GatewayErrorCodes.InvalidToken, validation.Error!);
        }
        if (!Target.IsValidName(validation.UserId, out var problem))
        {
            return UserAuthentication.Failure(StatusCodes.Status401Unauthorized, GatewayErrorCodes.InvalidToken,
                $"the token's 'sub' claim is not a usable user id: {problem}");
        }
        return UserAuthentication.Success(validation.UserId!);
    }

    private UserAuthentication FromQuery(HttpRequest request)
    {
        if (!request.Query.TryGetValue(GatewayRoutes.UserIdQueryParameter, out var values))
        {
            return MissingCredentials();
        }
        return FromDevUserId(values.Count == 1 ? values[0] : null);
    }

    private async Task<UserAuthentication> FromBodyAsync(HttpContext context) =>
        await ReadUserIdBodyAsync(context).ConfigureAwait(false) ?? MissingCredentials();

    /// <summary>The user named by a <c>{"userId":…}</c> body (dev mode, or a proxy's resume request); null for an empty body.</summary>
    internal static async Task<UserAuthentication?> ReadUserIdBodyAsync(HttpContext context)
    {
        var body = await RequestBodies.ReadAsync(context.Request, MaxDevBodyBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            return BadDevRequest($"the {{\"userId\":…}} body is larger than {MaxDevBodyBytes} bytes");
        }
        if (body.Value.IsEmpty)
        {
            return null;
        }
        DevConnectRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body.Value.Span, GatewayJsonContext.Default.DevConnectRequest);
        }
        catch (JsonException)
        {
            return BadDevRequest("the body must be a JSON object {\"userId\":\"…\"}");
        }
        return FromDevUserId(request?.UserId);
    }

    private static UserAuthentication FromDevUserId(string? userId) =>
        Target.IsValidName(userId, out var problem)
            ? UserAuthentication.Success(userId!)
            : BadDevRequest($"'userId' is not a usable user id: {problem}");

    private static UserAuthentication BadDevRequest(string message) =>
        UserAuthentication.Failure(StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, message);

    private UserAuthentication MissingCredentials() =>
        UserAuthentication.Failure(StatusCodes.Status401Unauthorized, GatewayErrorCodes.Unauthorized, devMode
            ? "send 'Authorization: Bearer <user token>', or in dev mode {\"userId\":\"…\"} (POST) or ?userId=… (GET)"
            : "send 'Authorization: Bearer <user token>'");
}
