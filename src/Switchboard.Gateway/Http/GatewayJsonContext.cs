using System.Text.Json;
using System.Text.Json.Serialization;

namespace Switchboard.Gateway.Http;

/// <summary>The body of every error answer: <c>{"error":{"code":…,"message":…}}</c>.</summary>
internal sealed record ErrorResponse(ErrorBody Error);

internal sealed record ErrorBody(string Code, string Message);

/// <summary>The answer of <c>/v1/connect</c>.</summary>
internal sealed record ConnectResponse(string Url, string Token, string Node, DateTimeOffset ExpiresAt);

/// <summary>The dev-mode body of <c>POST /v1/connect</c>.</summary>
internal sealed record DevConnectRequest(string? UserId);

internal sealed record PublishAccepted(bool Accepted);

internal sealed record NodesResponse(IReadOnlyList<NodeInfo> Nodes);

internal sealed record NodeInfo(
    string NodeId,
    string Url,
    int Connections,
    int Capacity,
    double Cpu,
    double MessagesPerSecond,
    bool Draining,
    long Epoch,
    string Version,
    DateTimeOffset SentAt,
    int PendingPlacements,
    double Score);

internal sealed record StatusResponse(string Status);

/// <summary>Source-generated JSON for the gateway's HTTP DTOs (camelCase, no reflection).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ConnectResponse))]
[JsonSerializable(typeof(DevConnectRequest))]
[JsonSerializable(typeof(PublishAccepted))]
[JsonSerializable(typeof(NodesResponse))]
[JsonSerializable(typeof(StatusResponse))]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
