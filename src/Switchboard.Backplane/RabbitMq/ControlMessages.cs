using System.Text.Json;
using System.Text.Json.Serialization;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>A node's departure on the control exchange.</summary>
/// <param name="NodeId">The node that left.</param>
/// <param name="Epoch">The epoch of the life that ended.</param>
internal sealed record NodeLeftNotice(string NodeId, long Epoch);

/// <summary>A request to one node: <see cref="ReplyTo"/> is the requester's reply queue, <see cref="Id"/> pairs the answer.</summary>
internal sealed record NodeRequestEnvelope(string Id, string ReplyTo, string Kind, byte[] Body);

/// <summary>The answer to a <see cref="NodeRequestEnvelope"/>: a body, or the handler's error.</summary>
internal sealed record NodeResponseEnvelope(string Id, byte[]? Body, string? Error);

/// <summary>JSON bodies of control messages (heartbeats, presence, departures); their type travels in the AMQP <c>type</c> property.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(NodeHeartbeat))]
[JsonSerializable(typeof(PresenceDelta))]
[JsonSerializable(typeof(NodeLeftNotice))]
[JsonSerializable(typeof(NodeRequestEnvelope))]
[JsonSerializable(typeof(NodeResponseEnvelope))]
internal sealed partial class ControlJsonContext : JsonSerializerContext;

/// <summary>Encodes and decodes control messages.</summary>
internal static class ControlMessages
{
    public static byte[] Encode(NodeHeartbeat heartbeat) => JsonSerializer.SerializeToUtf8Bytes(heartbeat, ControlJsonContext.Default.NodeHeartbeat);

    public static byte[] Encode(PresenceDelta delta) => JsonSerializer.SerializeToUtf8Bytes(delta, ControlJsonContext.Default.PresenceDelta);

    /// <summary>Writes a presence body into <paramref name="buffer"/> and returns it (valid until the buffer is written again).</summary>
    public static ReadOnlyMemory<byte> Encode(PresenceDelta delta, System.Buffers.ArrayBufferWriter<byte> buffer)
    {
        using (var writer = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(writer, delta, ControlJsonContext.Default.PresenceDelta);
        }
        return buffer.WrittenMemory;
    }

    public static byte[] Encode(NodeLeftNotice notice) => JsonSerializer.SerializeToUtf8Bytes(notice, ControlJsonContext.Default.NodeLeftNotice);

    public static byte[] Encode(NodeRequestEnvelope request) => JsonSerializer.SerializeToUtf8Bytes(request, ControlJsonContext.Default.NodeRequestEnvelope);

    public static byte[] Encode(NodeResponseEnvelope response) => JsonSerializer.SerializeToUtf8Bytes(response, ControlJsonContext.Default.NodeResponseEnvelope);

    /// <summary>Decodes a control body; throws <see cref="FormatException"/> when it is not a valid message of that type.</summary>
    public static T Decode<T>(ReadOnlySpan<byte> body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new FormatException("null control message");
        }
        catch (JsonException e)
        {
            throw new FormatException($"bad control message: {e.Message}", e);
        }
    }

    /// <summary>
    /// The <c>nodeId</c> of a presence body without decoding its user lists (the encoder writes it first); null when it
    /// is not there first, in which case the body is decoded (and checked) whole.
    /// </summary>
    public static string? PeekNodeId(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            return reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.Read() && reader.TokenType == JsonTokenType.PropertyName
                && reader.ValueTextEquals("nodeId"u8) && reader.Read() && reader.TokenType == JsonTokenType.String
                ? reader.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Checks the fields a decoded message must have (JSON can leave required strings null).</summary>
    public static void Validate(NodeHeartbeat heartbeat)
    {
        if (string.IsNullOrEmpty(heartbeat.NodeId) || heartbeat.Url is null || heartbeat.Version is null)
        {
            throw new FormatException("heartbeat without node id, url or version");
        }
    }

    /// <inheritdoc cref="Validate(NodeHeartbeat)"/>
    public static void Validate(PresenceDelta delta)
    {
        if (string.IsNullOrEmpty(delta.NodeId) || delta.Joined is null || delta.Left is null || delta.Joined.Any(u => u is null) || delta.Left.Any(u => u is null))
        {
            throw new FormatException("presence without node id or with null users");
        }
    }

    /// <inheritdoc cref="Validate(NodeHeartbeat)"/>
    public static void Validate(NodeLeftNotice notice)
    {
        if (string.IsNullOrEmpty(notice.NodeId))
        {
            throw new FormatException("departure without node id");
        }
    }
}
