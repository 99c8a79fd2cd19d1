using System.Text;
using System.Text.Json;

namespace Switchboard.Proxy.Failover;

/// <summary>The protocol names failover mode reads and writes (docs/protocol.md), each spelt once.</summary>
internal static class FailoverFrames
{
    public const string SubProtocol = "switchboard.v1";
    public const string Welcome = "welcome";
    public const string Message = "message";
    public const string Reconnect = "reconnect";

    /// <summary>Close codes after which the node keeps the session for a resume: restart, abnormal, timeout.</summary>
    public static bool KeepsSession(int? closeStatus) => closeStatus is null or 1012 or 1006 or 3008;

    /// <summary>The top-level <c>type</c> and <c>seq</c> of a server frame; nulls when absent or not JSON.</summary>
    public static (string? Type, long? Seq) Scan(ReadOnlySpan<byte> frame)
    {
        string? type = null;
        long? seq = null;
        try
        {
            var reader = new Utf8JsonReader(frame);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, null);
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isType = reader.ValueTextEquals("type"u8);
                var isSeq = !isType && reader.ValueTextEquals("seq"u8);
                reader.Read();
                if (isType && reader.TokenType == JsonTokenType.String)
                {
                    type = reader.GetString();
                }
                else if (isSeq && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
                {
                    seq = value;
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
        }
        return (type, seq);
    }

    /// <summary>What failover needs of a welcome.</summary>
    public sealed record WelcomeInfo(string? Session, bool Resumed, long? MissedFrom, long? MissedTo);

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
                root.TryGetProperty("missedTo", out var t) && t.TryGetInt64(out var to) ? to : null);
        }
        catch (JsonException)
        {
            return new WelcomeInfo(null, false, null, null);
        }
    }

    public static byte[] Resume(string session, long lastSeq) =>
        Encoding.UTF8.GetBytes($$"""{"type":"resume","session":{{JsonSerializer.Serialize(session)}},"lastSeq":{{lastSeq}}}""");
}
