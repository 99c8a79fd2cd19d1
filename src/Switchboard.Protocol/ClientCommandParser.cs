using System.Text.Json;

namespace Switchboard.Protocol;

/// <summary>
/// Parses client frames of protocol v1. Field order is free, unknown fields are ignored (so later
/// versions can add some), and every rejection carries a code from <see cref="ErrorCodes"/>.
/// </summary>
public static class ClientCommandParser
{
    /// <summary>The longest accepted <c>id</c>.</summary>
    public const int MaxIdLength = 64;

    private const int MaxDepth = 64;

    /// <summary>Parses one UTF-8 text frame.</summary>
    public static ParseResult Parse(ReadOnlyMemory<byte> utf8)
    {
        // Text frames must be UTF-8 (RFC 6455 §5.6); the reader checks only the strings it decodes, and data is relayed verbatim.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
        {
            return ParseResult.Failure(ErrorCodes.BadJson, "the frame is not valid UTF-8");
        }
        var fields = new Fields();
        try
        {
            var reader = new Utf8JsonReader(utf8.Span, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ParseResult.Failure(ErrorCodes.BadJson, "a frame must be one JSON object");
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                ReadField(ref reader, ref fields);
            }
            if (reader.Read())
            {
                return ParseResult.Failure(ErrorCodes.BadJson, "a frame must hold exactly one JSON object");
            }
        }
        catch (JsonException e)
        {
            return ParseResult.Failure(ErrorCodes.BadJson, $"the frame is not valid JSON: {FirstSentence(e.Message)}");
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports some malformed strings (bad escapes, invalid UTF-8) this way.
            return ParseResult.Failure(ErrorCodes.BadJson, $"the frame is not valid JSON: {FirstSentence(e.Message)}");
        }
        return Validate(utf8, in fields);
    }

    private static void ReadField(ref Utf8JsonReader reader, ref Fields f)
    {
        if (reader.ValueTextEquals(WireNames.Fields.Type))
        {
            reader.Read();
            f.TypeSeen = true;
            f.Type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            reader.Skip();
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Id))
        {
            f.Id = ReadShortString(ref reader, WireNames.Fields.Id, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.To))
        {
            f.To = ReadString(ref reader, WireNames.Fields.To, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Group))
        {
            f.Group = ReadString(ref reader, WireNames.Fields.Group, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Key))
        {
            f.Key = ReadShortString(ref reader, WireNames.Fields.Key, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Session))
        {
            f.Session = ReadString(ref reader, WireNames.Fields.Session, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Data))
        {
            reader.Read();
            f.DataStart = (int)reader.TokenStartIndex;
            reader.Skip();
            f.DataEnd = (int)reader.BytesConsumed;
            f.HasData = true;
        }
        else if (reader.ValueTextEquals(WireNames.Fields.Seq))
        {
            f.Seq = ReadSeq(ref reader, WireNames.Fields.Seq, ref f);
        }
        else if (reader.ValueTextEquals(WireNames.Fields.LastSeq))
        {
            f.LastSeq = ReadSeq(ref reader, WireNames.Fields.LastSeq, ref f);
        }
        else
        {
            reader.Read();
            reader.Skip();
        }
    }

    private static long? ReadSeq(ref Utf8JsonReader reader, string name, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seq) && seq >= 0)
        {
            return seq;
        }
        f.FieldProblem ??= $"'{name}' must be a non-negative integer";
        reader.Skip();
        return null;
    }

    /// <summary>An <c>id</c> or a <c>key</c>: a string of 1 to <see cref="MaxIdLength"/> characters.</summary>
    private static string? ReadShortString(ref Utf8JsonReader reader, string name, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String && reader.GetString() is { Length: > 0 and <= MaxIdLength } value)
        {
            return value;
        }
        f.FieldProblem ??= $"'{name}' must be a string of 1 to {MaxIdLength} characters";
        reader.Skip();
        return null;
    }

    private static string? ReadString(ref Utf8JsonReader reader, string name, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }
        f.FieldProblem ??= $"'{name}' must be a string";
        reader.Skip();
        return null;
    }

    private static ParseResult Validate(ReadOnlyMemory<byte> utf8, in Fields f)
    {
        if (!f.TypeSeen)
        {
            return ParseResult.Failure(ErrorCodes.MissingType, "the frame has no 'type' field", f.Id);
        }
        if (f.Type is null)
        {
            return ParseResult.Failure(ErrorCodes.MissingType, "'type' must be a string", f.Id);
        }
        if (!TryGetType(f.Type, out var type))
        {
            return ParseResult.Failure(ErrorCodes.UnknownType, $"unknown type '{Shorten(f.Type)}'", f.Id);
        }
        if (f.FieldProblem is not null)
        {
            return ParseResult.Failure(ErrorCodes.InvalidField, f.FieldProblem, f.Id);
        }
        switch (type)
        {
            case ClientCommandType.Send:
                if (f.To is null)
                {
                    return ParseResult.Failure(ErrorCodes.MissingField, "'send' needs a 'to' field", f.Id);
                }
                if (!f.HasData)
                {
                    return ParseResult.Failure(ErrorCodes.MissingField, "'send' needs a 'data' field", f.Id);
                }
                if (!Target.TryParse(f.To, out var target, out var problem))
                {
                    return ParseResult.Failure(ErrorCodes.BadTarget, problem!, f.Id);
                }
                return ParseResult.Success(new ClientCommand
                {
                    Type = type,
                    Id = f.Id,
                    Target = target,
                    Data = utf8[f.DataStart..f.DataEnd],
                    Key = f.Key,
                });
            case ClientCommandType.Join or ClientCommandType.Leave:
                if (f.Group is null)
                {
                    return ParseResult.Failure(ErrorCodes.MissingField, $"'{f.Type}' needs a 'group' field", f.Id);
                }
                if (!Target.IsValidName(f.Group, out var groupProblem))
                {
                    return ParseResult.Failure(ErrorCodes.InvalidField, $"bad group name: {groupProblem}", f.Id);
                }
                return ParseResult.Success(new ClientCommand { Type = type, Id = f.Id, Group = f.Group });
            case ClientCommandType.Resume:
                if (f.Session is null || f.LastSeq is not { } lastSeq)
                {
                    return ParseResult.Failure(ErrorCodes.MissingField, "'resume' needs 'session' and 'lastSeq' fields", f.Id);
                }
                return ParseResult.Success(new ClientCommand { Type = type, Id = f.Id, Session = f.Session, Seq = lastSeq });
            case ClientCommandType.Ack:
                if (f.Seq is not { } seq)
                {
                    return ParseResult.Failure(ErrorCodes.MissingField, "'ack' needs a 'seq' field", f.Id);
                }
                return ParseResult.Success(new ClientCommand { Type = type, Id = f.Id, Seq = seq });
            default:
                return ParseResult.Success(new ClientCommand { Type = type, Id = f.Id });
        }
    }

    private static bool TryGetType(string value, out ClientCommandType type)
    {
        type = value switch
        {
            WireNames.Types.Send => ClientCommandType.Send,
            WireNames.Types.Join => ClientCommandType.Join,
            WireNames.Types.Leave => ClientCommandType.Leave,
            WireNames.Types.Resume => ClientCommandType.Resume,
            WireNames.Types.Ack => ClientCommandType.Ack,
            WireNames.Types.Ping => ClientCommandType.Ping,
            _ => (ClientCommandType)(-1),
        };
        return type >= 0;
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "…";

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message : message[..(end + 1)];
    }

    private struct Fields
    {
        public bool TypeSeen;
        public string? Type;
        public string? Id;
        public string? To;
        public string? Group;
        public string? Key;
        public string? Session;
        public bool HasData;
        public int DataStart;
        public int DataEnd;
        public long? Seq;
        public long? LastSeq;
        public string? FieldProblem;
    }
}
