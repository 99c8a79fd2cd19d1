using System.Text;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Proxy.Failover;

/// <summary>The protocol names failover mode reads and writes (docs/protocol.md), each spelt once.</summary>
internal static class FailoverFrames
{
    public const string SubProtocol = "switchboard.v1";
    public const string Welcome = "welcome";
    public const string Message = "message";
    public const string Reconnect = "reconnect";
    public const string Join = "join";
    public const string Leave = "leave";
    public const string AckType = "ack";
    public const string Send = "send";
    public const string Ping = "ping";
    public const string Reply = "reply";

    /// <summary>
    /// The query that asks a node to write each message's id (<c>mid</c>), which the standby's copies are matched by, and to
    /// answer a <c>send</c> only once its backplane's broker has confirmed the message (what a lost node answered is not lost).
    /// </summary>
    public const string NodeQuery = "ids=1&confirm=1";

    /// <summary><paramref name="query"/> (empty or starting with <c>?</c>) with <see cref="NodeQuery"/> added.</summary>
    public static string WithNodeQuery(string query) => string.IsNullOrEmpty(query) || query == "?" ? "?" + NodeQuery : query + "&" + NodeQuery;

    /// <summary>
    /// For a failed <c>reply</c>, the <c>error</c> frame a node sends for a command without an id; null for a reply that
    /// succeeded. A client that gave no id hears of a failure as it would straight at the node.
    /// </summary>
    public static byte[]? ErrorOfFailedReply(ReadOnlySpan<byte> reply)
    {
        // Nodes write compact JSON; the check keeps the common answer, ok, from being parsed.
        if (reply.IndexOf("\"ok\":false"u8) < 0)
        {
            return null;
        }
        try
        {
            using var json = JsonDocument.Parse(reply.ToArray());
            if (!json.RootElement.TryGetProperty(WireNames.Fields.Error, out var error) || error.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            string Text(string name) => error.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
            return ServerFrames.Error(new ProtocolError(Text(WireNames.Fields.Code), Text(WireNames.Fields.Message)));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Close codes after which the node keeps the session for a resume: restart, abnormal, timeout.</summary>
    public static bool KeepsSession(int? closeStatus) => closeStatus is null or 1012 or 1006 or 3008;

    /// <summary>What failover reads of a frame, either way (nulls when absent; all null when the frame is not JSON).</summary>
    /// <param name="Type">The top-level <c>type</c>.</param>
    /// <param name="Seq">A message's <c>seq</c>.</param>
    /// <param name="MessageId">A message's <c>mid</c>, which a node writes for <c>ids=1</c>.</param>
    /// <param name="Id">A reply's or a command's <c>id</c>.</param>
    /// <param name="Group">A <c>join</c>'s or <c>leave</c>'s <c>group</c>.</param>
    /// <param name="Key">A <c>send</c>'s idempotency <c>key</c>.</param>
    public readonly record struct FrameFields(string? Type, long? Seq, long? MessageId, string? Id, string? Group = null, string? Key = null);

    /// <summary>Reads the top-level <c>type</c>, <c>seq</c>, <c>mid</c>, <c>id</c>, <c>group</c> and <c>key</c> of a frame.</summary>
    public static FrameFields Scan(ReadOnlySpan<byte> frame)
    {
        string? type = null, id = null, group = null, key = null;
        long? seq = null, messageId = null;
        try
        {
            var reader = new Utf8JsonReader(frame);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = reader.ValueTextEquals("type"u8) ? 1 : reader.ValueTextEquals("seq"u8) ? 2 : reader.ValueTextEquals("mid"u8) ? 3
                    : reader.ValueTextEquals("id"u8) ? 4 : reader.ValueTextEquals("group"u8) ? 5 : reader.ValueTextEquals("key"u8) ? 6 : 0;
                reader.Read();
                if (field is 1 or 4 or 5 or 6 && reader.TokenType == JsonTokenType.String)
                {
                    var value = reader.GetString();
                    (type, id, group, key) = field switch
                    {
                        1 => (value, id, group, key),
                        4 => (type, value, group, key),
                        5 => (type, id, value, key),
                        _ => (type, id, group, value),
                    };
                }
                else if (field == 2 && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
                {
                    seq = value;
                }
                else if (field == 3 && reader.TokenType == JsonTokenType.String && long.TryParse(reader.ValueSpan, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var mid))
                {
                    messageId = mid;
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return default;
        }
        return new FrameFields(type, seq, messageId, id, group, key);
    }

    /// <summary>The top-level <c>type</c>, <c>group</c>, <c>id</c> and <c>key</c> of a client command (see <see cref="Scan"/>).</summary>
    public static (string? Type, string? Group, string? Id, string? Key) ScanCommand(ReadOnlySpan<byte> frame)
    {
        var fields = Scan(frame);
        return (fields.Type, fields.Group, fields.Id, fields.Key);
    }

    /// <summary>
    /// The frame with its <c>seq</c> replaced: after a standby took over, the client's seqs continue where they were while
    /// the node's are its own. A node writes <c>"seq":N</c> last, so the last occurrence is the field.
    /// </summary>
    public static byte[] WithSeq(byte[] frame, long seq)
    {
        var field = frame.AsSpan().LastIndexOf("\"seq\":"u8);
        if (field < 0)
        {
            return frame;
        }
        var start = field + 6;
        var end = start;
        while (end < frame.Length && frame[end] is >= (byte)'0' and <= (byte)'9')
        {
            end++;
        }
        var digits = Encoding.ASCII.GetBytes(seq.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return [.. frame.AsSpan(0, start), .. digits, .. frame.AsSpan(end)];
    }

    /// <summary>A <c>join</c> or <c>leave</c> without an id (the node answers only a failure), as the standby gets it.</summary>
    public static byte[] Membership(string type, string group) =>
        Encoding.UTF8.GetBytes($$"""{"type":{{JsonSerializer.Serialize(type)}},"group":{{JsonSerializer.Serialize(group)}}}""");

    /// <summary>
    /// The command with <c>"id":"<paramref name="id"/>"</c> added as its first field, so the node answers it; null when
    /// the frame is not a JSON object.
    /// </summary>
    public static byte[]? WithId(byte[] command, string id) => WithFields(command, id, key: null);

    /// <summary>
    /// The command with <c>id</c> and <c>key</c> added as its first fields (each only when given); null when the frame is
    /// not a JSON object.
    /// </summary>
    public static byte[]? WithFields(byte[] command, string? id, string? key)
    {
        var open = command.AsSpan().IndexOfAnyExcept(" \t\r\n"u8);
        if (open < 0 || command[open] != (byte)'{')
        {
            return null;
        }
        var next = command.AsSpan(open + 1).IndexOfAnyExcept(" \t\r\n"u8);
        var empty = next >= 0 && command[open + 1 + next] == (byte)'}';
        var idField = id is null ? null : $"\"{WireNames.Fields.Id}\":{JsonSerializer.Serialize(id)}";
        var keyField = key is null ? null : $"\"{WireNames.Fields.Key}\":{JsonSerializer.Serialize(key)}";
        var fields = idField is not null && keyField is not null ? idField + "," + keyField : idField ?? keyField;
        if (fields is null)
        {
            return command;
        }
        var field = Encoding.UTF8.GetBytes(fields + (empty ? "" : ","));
        return [.. command.AsSpan(0, open + 1), .. field, .. command.AsSpan(open + 1)];
    }

    /// <summary>An <c>ack</c> of a node seq, keeping the client's id.</summary>
    public static byte[] Ack(long seq, string? id) =>
        Encoding.UTF8.GetBytes(id is null ? $$"""{"type":"ack","seq":{{seq}}}""" : $$"""{"type":"ack","seq":{{seq}},"id":{{JsonSerializer.Serialize(id)}}}""");

    /// <summary>What failover needs of a welcome.</summary>
    /// <summary>A welcome's fields the proxy uses; <paramref name="Replayed"/>: messages a resume's replay sends right after it (and its reply).</summary>
    public sealed record WelcomeInfo(string? Session, bool Resumed, long? MissedFrom, long? MissedTo, string? Node = null, int Replayed = 0);

    public static WelcomeInfo ReadWelcome(ReadOnlySpan<byte> frame)
    {
        try
        {
            using var json = JsonDocument.Parse(frame.ToArray());
            var root = json.RootElement;
            return new WelcomeInfo(
                root.TryGetProperty("session", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null,
                root.TryGetProperty("resumed", out var r) && r.ValueKind == JsonValueKind.True,
                root.TryGetProperty("missedFrom", out var f) && f.TryGetInt64(out var from) ? from : null,
                root.TryGetProperty("missedTo", out var t) && t.TryGetInt64(out var to) ? to : null,
                root.TryGetProperty("node", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null,
                root.TryGetProperty("replayed", out var p) && p.TryGetInt32(out var replayed) && replayed > 0 ? replayed : 0);
        }
        catch (JsonException)
        {
            return new WelcomeInfo(null, false, null, null);
        }
    }

    public static byte[] Resume(string session, long lastSeq) =>
        Encoding.UTF8.GetBytes($$"""{"type":"resume","session":{{JsonSerializer.Serialize(session)}},"lastSeq":{{lastSeq}}}""");
}
