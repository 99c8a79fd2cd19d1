using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Switchboard.Node;

/// <summary>Writes the JSON error body every Switchboard HTTP endpoint uses: <c>{"error":{"code":…,"message":…}}</c>.</summary>
public static class HttpErrors
{
    /// <summary>Writes an error response.</summary>
    public static async Task WriteAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
