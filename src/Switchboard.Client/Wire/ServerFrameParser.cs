using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Client.Wire;

/// <summary>
/// Parses node-to-client frames. Field order is free (though nodes write <c>type</c> first), unknown fields are
/// skipped, and unknown frame types come back as <see cref="UnknownFrame"/> so later versions can add some.
/// </summary>
internal static class ServerFrameParser
{
    private const int MaxDepth = 64;

    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement;

    /// <summary>Parses one UTF-8 text frame. Never throws for bad input; returns <see cref="InvalidFrame"/>.</summary>
    public static ServerFrame Parse(ReadOnlySpan<byte> utf8)
    {
        var f = new Fields();
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return new InvalidFrame("a frame must be one JSON object");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadField(ref reader, ref f);
            }
            if (reader.Read())
            {
                return new InvalidFrame("a frame must hold exactly one JSON object");
            }
        }
        catch (JsonException e)
        {
            return new InvalidFrame($"not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports some malformed strings and wrong token types this way.
            return new InvalidFrame($"not valid JSON: {e.Message}");
        }
        return Build(in f);
    }

    private static void ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals(WireNames.Fields.Type))
        {
            f.Type = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Id))
        {
            f.Id = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.From))
        {
            f.From = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.To))
        {
            f.To = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Data))
        {
            reader.Read();
            // ParseValue copies the value into its own document: the message outlives the receive buffer.
            f.Data = JsonElement.ParseValue(ref reader);
            f.DataSeen = true;
        }
        else if (reader.ValueTextEquals(WireNames.Fields.MessageId))
        {
            // A decimal integer in a string (64 bits do not survive every JSON reader as a number); read without a string.
            reader.Read();
            f.MessageId = reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
                && System.Buffers.Text.Utf8Parser.TryParse(reader.ValueSpan, out long mid, out var used) && used == reader.ValueSpan.Length ? mid : null;
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Seq))
        {
            reader.Read();
            f.Seq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seq) ? seq : null;
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Ok))
        {
            reader.Read();
            f.Ok = reader.TokenType switch
            {
                JsonTokenType.True => true,
                JsonTokenType.False => false,
                _ => null,
            };
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Error))
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                ReadErrorObject(ref reader, ref f);
            }
            else
            {
                reader.Skip();
            }
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Code))
        {
            f.Code = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Message))
        {
            f.Message = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.ConnectionId))
        {
            f.ConnectionId = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.UserId))
        {
            f.UserId = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Node))
        {
            f.Node = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Session))
        {
            f.Session = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Resumed))
        {
            reader.Read();
            f.Resumed = reader.TokenType == JsonTokenType.True;
        }
        else if (reader.ValueTextEquals(WireNames.Fields.MissedFrom))
        {
            f.MissedFrom = ReadLong(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.MissedTo))
        {
            f.MissedTo = ReadLong(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Reason))
        {
            f.Reason = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Url))
        {
            f.Url = ReadString(ref reader);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Token))
        {
            f.Token = ReadString(ref reader);
        }
        else
        {
            reader.Read();
            reader.Skip();
        }
    }

    private static void ReadErrorObject(ref Utf8JsonReader reader, ref Fields f)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(WireNames.Fields.Code))
            {
                f.ErrorCode = ReadString(ref reader);
            }
            else if (reader.ValueTextEquals(WireNames.Fields.Message))
            {
                f.ErrorMessage = ReadString(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    /// <summary>Reads the value after a property name; null unless it is a string.</summary>
    private static string? ReadString(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }
        reader.Skip();
        return null;
    }

    /// <summary>Reads the value after a property name; null unless it is an integer.</summary>
    private static long? ReadLong(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
        {
            return value;
        }
        reader.Skip();
        return null;
    }

    private static ServerFrame Build(in Fields f)
    {
        switch (f.Type)
        {
            case null:
                return new InvalidFrame("the 'type' field is missing or not a string");
            case WireNames.Types.Welcome:
                if (f.ConnectionId is null || f.UserId is null || f.Node is null || f.Session is null)
                {
                    return Missing("welcome", "connectionId, userId, node and session");
                }
                return new WelcomeFrame(f.ConnectionId, f.UserId, f.Node, f.Session, f.Resumed, f.MissedFrom, f.MissedFrom is null ? null : f.MissedTo ?? f.MissedFrom);
            case WireNames.Types.Message:
                if (f.From is null || f.To is null || f.Seq is null)
                {
                    return Missing("message", "from, to and seq");
                }
                return new MessageFrame(new SwitchboardMessage(f.From, f.To, f.DataSeen ? f.Data : NullElement, f.Seq.Value), f.MessageId);
            case WireNames.Types.Reply:
                if (f.Id is null || f.Ok is null)
                {
                    return Missing("reply", "id and ok");
                }
                if (f.Ok.Value)
                {
                    return new ReplyFrame(f.Id, true, null, null);
                }
                // A failed reply without a code is still a failure; the client must not report success.
                return new ReplyFrame(f.Id, false, f.ErrorCode ?? "unknown", f.ErrorMessage ?? string.Empty);
            case WireNames.Types.Reconnect:
                return new ReconnectFrame(f.Reason, f.Url, f.Token);
            case WireNames.Types.Error:
                if (f.Code is null)
                {
                    return Missing("error", "code");
                }
                return new ErrorFrame(f.Code, f.Message ?? string.Empty);
            default:
                return new UnknownFrame(f.Type);
        }
    }

    private static InvalidFrame Missing(string type, string fields) => new($"a '{type}' frame needs {fields}");

    private struct Fields
    {
        public string? Type;
        public string? Id;
        public string? From;
        public string? To;
        public JsonElement Data;
        public bool DataSeen;
        public long? Seq;
        public long? MessageId;
        public bool? Ok;
        public string? ErrorCode;
        public string? ErrorMessage;
        public string? Code;
        public string? Message;
        public string? ConnectionId;
        public string? UserId;
        public string? Node;
        public string? Session;
        public bool Resumed;
        public long? MissedFrom;
        public long? MissedTo;
        public string? Reason;
        public string? Url;
        public string? Token;
    }
}
