using System.Text.Json.Serialization;
using Switchboard.Protocol;

namespace Switchboard.Client.Gateway;

/// <summary>The dev-mode body of <c>POST /v1/connect</c>: <c>{"userId":…}</c>.</summary>
internal sealed record DevConnectRequest([property: JsonPropertyName(WireNames.Fields.UserId)] string? UserId);

/// <summary>The gateway's answer to <c>POST /v1/connect</c>.</summary>
internal sealed record ConnectResponse(
    [property: JsonPropertyName(WireNames.Fields.Url)] string? Url,
    [property: JsonPropertyName(WireNames.Fields.Token)] string? Token,
    [property: JsonPropertyName(WireNames.Fields.Node)] string? Node,
    [property: JsonPropertyName("expiresAt")] DateTimeOffset? ExpiresAt);

/// <summary>Every gateway error body: <c>{"error":{"code":…,"message":…}}</c>.</summary>
internal sealed record GatewayErrorResponse([property: JsonPropertyName(WireNames.Fields.Error)] GatewayErrorBody? Error);

/// <summary>The inner object of <see cref="GatewayErrorResponse"/>.</summary>
internal sealed record GatewayErrorBody(
    [property: JsonPropertyName(WireNames.Fields.Code)] string? Code,
    [property: JsonPropertyName(WireNames.Fields.Message)] string? Message);

/// <summary>Source-generated JSON for the gateway DTOs (no reflection, trimming-safe).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DevConnectRequest))]
[JsonSerializable(typeof(ConnectResponse))]
[JsonSerializable(typeof(GatewayErrorResponse))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
