using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Switchboard.Gateway.Http;

/// <summary>Writes every answer of the gateway's API; the one place error bodies are built.</summary>
internal static class HttpAnswers
{
    public static Task JsonAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> typeInfo)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(value, typeInfo, contentType: "application/json", context.RequestAborted);
    }

    public static Task ErrorAsync(HttpContext context, int status, string code, string message) =>
        JsonAsync(context, status, new ErrorResponse(new ErrorBody(code, message)), GatewayJsonContext.Default.ErrorResponse);

    public static Task UnauthorizedAsync(HttpContext context, string code, string message, bool bearer)
    {
        if (bearer)
        {
            context.Response.Headers[HeaderNames.WWWAuthenticate] = code == GatewayErrorCodes.InvalidToken
                ? "Bearer error=\"invalid_token\""
                : "Bearer";
        }
        return ErrorAsync(context, StatusCodes.Status401Unauthorized, code, message);
    }

    /// <summary>503 with <c>Retry-After: 1</c>: the condition is usually over within a heartbeat or two.</summary>
    public static Task UnavailableAsync(HttpContext context, string code, string message)
    {
        context.Response.Headers[HeaderNames.RetryAfter] = "1";
        return ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, code, message);
    }
}
