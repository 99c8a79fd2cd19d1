using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Switchboard.Protocol;

namespace Switchboard.Client.Wire;

/// <summary>Writes the client-to-node commands of protocol v1 as UTF-8 JSON, <c>type</c> first.</summary>
internal static class ClientFrames
{
    /// <summary>Writes the data of a <c>send</c> into the frame.</summary>
    public delegate void DataWriter(Utf8JsonWriter writer);

    /// <summary><c>{"type":"send","to":…,"data":…,"id":…}</c>, with <c>"key":…</c> when <paramref name="key"/> is given.</summary>
    public static void Send(IBufferWriter<byte> output, string to, DataWriter writeData, string id, string? key = null)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteString(WireNames.Fields.Type, WireNames.Types.Send);
        w.WriteString(WireNames.Fields.To, to);
        w.WritePropertyName(WireNames.Fields.Data);
        writeData(w);
        w.WriteString(WireNames.Fields.Id, id);
        if (key is not null)
        {
            w.WriteString(WireNames.Fields.Key, key);
        }
        w.WriteEndObject();
    }

    /// <summary>A <c>send</c> whose data is a <see cref="JsonElement"/>.</summary>
    public static void Send(IBufferWriter<byte> output, string to, JsonElement data, string id, string? key = null) =>
        Send(output, to, w => data.WriteTo(w), id, key);

    /// <summary>A <c>send</c> whose data is serialized with source-generated metadata.</summary>
    public static void Send<T>(IBufferWriter<byte> output, string to, T data, JsonTypeInfo<T> typeInfo, string id, string? key = null) =>
        Send(output, to, w => JsonSerializer.Serialize(w, data, typeInfo), id, key);

    /// <summary>A <c>send</c> whose data is already UTF-8 JSON; it is validated so the node never sees a malformed frame.</summary>
    /// <exception cref="ArgumentException">The data is not one valid JSON value.</exception>
    public static void SendRaw(IBufferWriter<byte> output, string to, ReadOnlyMemory<byte> utf8JsonData, string id, string? key = null)
    {
        try
        {
            Send(output, to, w => w.WriteRawValue(utf8JsonData.Span, skipInputValidation: false), id, key);
        }
        catch (JsonException e)
        {
            // Utf8JsonWriter throws ArgumentException for empty input and JsonException for malformed input: one type for callers.
            throw new ArgumentException($"The data is not one valid JSON value: {e.Message}", nameof(utf8JsonData), e);
        }
    }

    /// <summary><c>{"type":"join","group":…,"id":…}</c>.</summary>
    public static void Join(IBufferWriter<byte> output, string group, string id) => Group(output, WireNames.Types.Join, group, id);

    /// <summary><c>{"type":"leave","group":…,"id":…}</c>.</summary>
    public static void Leave(IBufferWriter<byte> output, string group, string id) => Group(output, WireNames.Types.Leave, group, id);

    /// <summary><c>{"type":"ping","id":…}</c>.</summary>
    public static void Ping(IBufferWriter<byte> output, string id)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteString(WireNames.Fields.Type, WireNames.Types.Ping);
        w.WriteString(WireNames.Fields.Id, id);
        w.WriteEndObject();
    }

    private static void Group(IBufferWriter<byte> output, string type, string group, string id)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteString(WireNames.Fields.Type, type);
        w.WriteString(WireNames.Fields.Group, group);
        w.WriteString(WireNames.Fields.Id, id);
        w.WriteEndObject();
    }

    /// <summary><c>{"type":"resume","session":…,"lastSeq":…}</c>, without an id: a failure arrives as an <c>error</c> frame after the welcome.</summary>
    public static void Resume(IBufferWriter<byte> output, string session, long lastSeq)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteString(WireNames.Fields.Type, WireNames.Types.Resume);
        w.WriteString(WireNames.Fields.Session, session);
        w.WriteNumber(WireNames.Fields.LastSeq, lastSeq);
        w.WriteEndObject();
    }
}
