using System.Text.Json;
using System.Text.Json.Serialization;

namespace Switchboard.Backplane.Control;

/// <summary>
/// A drain request to a node over the backplane (from a gateway's admin API or its rebalancer): with
/// <see cref="Count"/>, move that many connections and stay; without, drain the whole node and stop.
/// </summary>
public sealed record DrainRequest(int? Count = null);

/// <summary>A node's answer to a <see cref="DrainRequest"/>.</summary>
/// <param name="NodeId">The node.</param>
/// <param name="Moving">Connections asked to reconnect elsewhere.</param>
/// <param name="Connections">Live connections when the request arrived.</param>
/// <param name="Draining">True when the whole node is draining.</param>
public sealed record DrainAnswer(string NodeId, int Moving, int Connections, bool Draining);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(DrainRequest))]
[JsonSerializable(typeof(DrainAnswer))]
internal sealed partial class NodeControlJsonContext : JsonSerializerContext;

/// <summary>The backplane request kinds a node answers about its connections, and their bodies.</summary>
public static class NodeControlMessages
{
    /// <summary>The request kind of a <see cref="DrainRequest"/>.</summary>
    public const string DrainKind = "node.drain";

    /// <summary>Encodes a drain request.</summary>
    public static byte[] Write(DrainRequest request) => JsonSerializer.SerializeToUtf8Bytes(request, NodeControlJsonContext.Default.DrainRequest);

    /// <summary>Encodes a drain answer.</summary>
    public static byte[] Write(DrainAnswer answer) => JsonSerializer.SerializeToUtf8Bytes(answer, NodeControlJsonContext.Default.DrainAnswer);

    /// <summary>Decodes a drain request (an empty body is a full drain).</summary>
    public static DrainRequest ReadDrain(ReadOnlyMemory<byte> body) =>
        body.IsEmpty ? new DrainRequest() : JsonSerializer.Deserialize(body.Span, NodeControlJsonContext.Default.DrainRequest) ?? new DrainRequest();

    /// <summary>Decodes a drain answer.</summary>
    public static DrainAnswer ReadAnswer(ReadOnlyMemory<byte> body) =>
        JsonSerializer.Deserialize(body.Span, NodeControlJsonContext.Default.DrainAnswer) ?? throw new JsonException("empty drain answer");
}
