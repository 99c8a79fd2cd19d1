using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane.Routing;
using Switchboard.Gateway.Http;
using Switchboard.Protocol;

namespace Switchboard.Gateway.Publish;

/// <summary>
/// <c>POST /v1/publish</c>: an application backend sends <c>{"to":…,"data":…}</c> with an API key; the gateway
/// routes it over the backplane to the nodes holding the recipients, as sender <c>api</c>. With an idempotency key
/// (the <c>Idempotency-Key</c> header or a <c>key</c> field) a publish retried after a lost answer is one message: its
/// id is derived from the API key and the idempotency key, and the nodes pass on one copy.
/// </summary>
internal sealed class PublishEndpoint(ApiKeyChecker keys, ClusterRouter router, int maxBytes, ILogger<PublishEndpoint> logger)
{
    public async Task HandleAsync(HttpContext context)
    {
        if (!keys.IsValid(context.Request.Headers[GatewayRoutes.ApiKeyHeader].ToString()))
        {
            logger.PublishRefused();
            await HttpAnswers.UnauthorizedAsync(context, GatewayErrorCodes.Unauthorized,
                $"send a valid API key in the {GatewayRoutes.ApiKeyHeader} header", bearer: false).ConfigureAwait(false);
            return;
        }
        var body = await RequestBodies.ReadAsync(context.Request, maxBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status413PayloadTooLarge, GatewayErrorCodes.PayloadTooLarge,
                $"the body is larger than {maxBytes} bytes").ConfigureAwait(false);
            return;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Value);
        }
        catch (JsonException e)
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadJson,
                $"the body is not valid JSON: {e.Message}").ConfigureAwait(false);
            return;
        }
        using (document)
        {
            string? key = null;
            if ((Parse(document.RootElement) ?? ParseKey(document.RootElement, context.Request.Headers[IdempotencyKeyHeader], out key)) is { } problem)
            {
                await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, problem.Code, problem.Message).ConfigureAwait(false);
                return;
            }
            var root = document.RootElement;
            Target.TryParse(root.GetProperty(WireNames.Fields.To).GetString(), out var target, out _);
            // The raw UTF-8 slice of "data", as the publisher wrote it: no re-serialization.
            var data = JsonMarshal.GetRawUtf8Value(root.GetProperty(WireNames.Fields.Data));
            // Keyed per API key, so two backends' keys never meet; the API key is only ever seen through the hash.
            var message = key is null
                ? new RoutedMessage(target, WireNames.ApiSender, data, originNodeId: null)
                : new RoutedMessage(target, WireNames.ApiSender, data, originNodeId: null,
                    RoutedMessage.IdForKey(WireNames.ApiSender + "\n" + context.Request.Headers[GatewayRoutes.ApiKeyHeader], key));
            try
            {
                await router.RouteAsync(message, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.PublishFailed(target.ToString(), e);
                await HttpAnswers.UnavailableAsync(context, GatewayErrorCodes.Unavailable,
                    "the message could not be handed to the backplane; try again").ConfigureAwait(false);
                return;
            }
            logger.Published(target.ToString(), body.Value.Length);
        }
        await HttpAnswers.JsonAsync(context, StatusCodes.Status202Accepted, new PublishAccepted(true), GatewayJsonContext.Default.PublishAccepted).ConfigureAwait(false);
    }

    /// <summary>The header an HTTP client's retries carry (the IETF draft's name); a <c>key</c> field in the body does the same.</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    private static (string Code, string Message)? ParseKey(JsonElement root, Microsoft.Extensions.Primitives.StringValues header, out string? key)
    {
        key = null;
        string? fromBody = null;
        if (root.TryGetProperty(WireNames.Fields.Key, out var field))
        {
            if (field.ValueKind != JsonValueKind.String || field.GetString() is not { Length: > 0 and <= ClientCommandParser.MaxIdLength } value)
            {
                return (GatewayErrorCodes.BadRequest, $"'key' must be a string of 1 to {ClientCommandParser.MaxIdLength} characters");
            }
            fromBody = value;
        }
        string? fromHeader = null;
        if (header.Count > 0)
        {
            if (header.Count > 1 || header[0] is not { Length: > 0 and <= ClientCommandParser.MaxIdLength } value)
            {
                return (GatewayErrorCodes.BadRequest, $"{IdempotencyKeyHeader} must be one value of 1 to {ClientCommandParser.MaxIdLength} characters");
            }
            fromHeader = value;
        }
        if (fromBody is not null && fromHeader is not null && !string.Equals(fromBody, fromHeader, StringComparison.Ordinal))
        {
            return (GatewayErrorCodes.BadRequest, $"the {IdempotencyKeyHeader} header and the 'key' field differ; give one");
        }
        key = fromHeader ?? fromBody;
        return null;
    }

    private static (string Code, string Message)? Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return (GatewayErrorCodes.BadRequest, "the body must be a JSON object {\"to\":…,\"data\":…}");
        }
        if (!root.TryGetProperty(WireNames.Fields.To, out var to) || to.ValueKind != JsonValueKind.String)
        {
            return (GatewayErrorCodes.BadTarget, "'to' must be a string: user:<id>, conn:<id>, group:<name> or all");
        }
        if (!Target.TryParse(to.GetString(), out _, out var problem))
        {
            return (GatewayErrorCodes.BadTarget, problem!);
        }
        if (!root.TryGetProperty(WireNames.Fields.Data, out _))
        {
            return (GatewayErrorCodes.BadRequest, "'data' is missing");
        }
        return null;
    }
}
