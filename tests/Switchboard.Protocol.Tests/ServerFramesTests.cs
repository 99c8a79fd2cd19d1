using System.Text;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Protocol.Tests;

public class ServerFramesTests
{
    private static JsonElement ParseFrame(byte[] frame)
    {
        // JsonDocument.Parse validates: a frame that is not one well-formed JSON object fails here.
        using var document = JsonDocument.Parse(frame);
        document.RootElement.ValueKind.ShouldBe(JsonValueKind.Object);
        return document.RootElement.Clone();
    }

    private static void ShouldHaveTypeFirst(JsonElement frame, string type)
    {
        var first = frame.EnumerateObject().First();
        first.Name.ShouldBe(WireNames.Fields.Type);
        first.Value.GetString().ShouldBe(type);
    }

    private static string[] PropertyNames(JsonElement frame) => frame.EnumerateObject().Select(p => p.Name).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Welcome_HasTypeFirstAndAllFields(bool resumed)
    {
        var frame = ParseFrame(ServerFrames.Welcome("node-1.abc", "bob", "node-1", "s-1", resumed));

        ShouldHaveTypeFirst(frame, "welcome");
        PropertyNames(frame).ShouldBe(["type", "connectionId", "userId", "node", "session", "resumed"]);
        frame.GetProperty("connectionId").GetString().ShouldBe("node-1.abc");
        frame.GetProperty("userId").GetString().ShouldBe("bob");
        frame.GetProperty("node").GetString().ShouldBe("node-1");
        frame.GetProperty("session").GetString().ShouldBe("s-1");
        frame.GetProperty("resumed").GetBoolean().ShouldBe(resumed);
    }

    [Fact]
    public void ReplyOk_HasTypeFirstIdAndOkTrue()
    {
        var frame = ParseFrame(ServerFrames.ReplyOk("c1"));

        ShouldHaveTypeFirst(frame, "reply");
        PropertyNames(frame).ShouldBe(["type", "id", "ok"]);
        frame.GetProperty("id").GetString().ShouldBe("c1");
        frame.GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public void ReplyError_HasTypeFirstIdOkFalseAndError()
    {
        var frame = ParseFrame(ServerFrames.ReplyError("c1", new ProtocolError(ErrorCodes.BadTarget, "no such \"target\"")));

        ShouldHaveTypeFirst(frame, "reply");
        frame.GetProperty("id").GetString().ShouldBe("c1");
        frame.GetProperty("ok").GetBoolean().ShouldBeFalse();
        var error = frame.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe(ErrorCodes.BadTarget);
        error.GetProperty("message").GetString().ShouldBe("no such \"target\"");
    }

    [Fact]
    public void Error_HasTypeFirstCodeAndMessage()
    {
        var frame = ParseFrame(ServerFrames.Error(new ProtocolError(ErrorCodes.BadJson, "bad <json> & such")));

        ShouldHaveTypeFirst(frame, "error");
        PropertyNames(frame).ShouldBe(["type", "code", "message"]);
        frame.GetProperty("code").GetString().ShouldBe(ErrorCodes.BadJson);
        frame.GetProperty("message").GetString().ShouldBe("bad <json> & such");
    }

    [Fact]
    public void Rejection_WithId_IsFailedReply()
    {
        var frame = ParseFrame(ServerFrames.Rejection("c9", new ProtocolError(ErrorCodes.MissingField, "m")));

        ShouldHaveTypeFirst(frame, "reply");
        frame.GetProperty("id").GetString().ShouldBe("c9");
        frame.GetProperty("ok").GetBoolean().ShouldBeFalse();
        frame.GetProperty("error").GetProperty("code").GetString().ShouldBe(ErrorCodes.MissingField);
    }

    [Fact]
    public void Rejection_WithoutId_IsErrorFrame()
    {
        var frame = ParseFrame(ServerFrames.Rejection(null, new ProtocolError(ErrorCodes.BadJson, "m")));

        ShouldHaveTypeFirst(frame, "error");
        frame.GetProperty("code").GetString().ShouldBe(ErrorCodes.BadJson);
    }

    [Fact]
    public void Rejection_OfParserError_EchoesTheCommandId()
    {
        var parsed = ClientCommandParser.Parse(Encoding.UTF8.GetBytes("""{"type":"send","to":"nowhere","data":1,"id":"c5"}"""));

        var frame = ParseFrame(ServerFrames.Rejection(parsed.Id, parsed.Error!));

        frame.GetProperty("id").GetString().ShouldBe("c5");
        frame.GetProperty("error").GetProperty("code").GetString().ShouldBe(ErrorCodes.BadTarget);
    }

    private static byte[] CompleteMessage(byte[] prefix, long seq)
    {
        var frame = new byte[prefix.Length + ServerFrames.MessageEndMaxLength];
        prefix.CopyTo(frame, 0);
        var written = ServerFrames.WriteMessageEnd(frame.AsSpan(prefix.Length), seq);
        written.ShouldBeLessThanOrEqualTo(ServerFrames.MessageEndMaxLength);
        return frame[..(prefix.Length + written)];
    }

    public static TheoryData<string> RawDataValues() =>
    [
        """{"text":"hi"}""",
        """{ "spaced" : [ 1 , 2.50 , "é\u00e9\n" ] , "c" : null, "big": 12345678901234567890123 }""",
        "\"a string with \\\"quotes\\\" and <html> & +\"",
        "42",
        "-0.5e-7",
        "null",
        "true",
        "[]",
        "[1,[2,[3,[4]]]]",
        "\"日本語😀\"",
    ];

    [Theory]
    [MemberData(nameof(RawDataValues))]
    public void MessagePrefixAndEnd_MakeMessageFrame_WithDataByteForByte(string data)
    {
        var raw = Encoding.UTF8.GetBytes(data);

        var prefix = ServerFrames.MessagePrefix("user:alice", "user:bob", raw);
        var frameBytes = CompleteMessage(prefix, 18);
        var frame = ParseFrame(frameBytes);

        ShouldHaveTypeFirst(frame, "message");
        PropertyNames(frame).ShouldBe(["type", "from", "to", "data", "seq"]);
        frame.GetProperty("from").GetString().ShouldBe("user:alice");
        frame.GetProperty("to").GetString().ShouldBe("user:bob");
        frame.GetProperty("seq").GetInt64().ShouldBe(18);
        frame.GetProperty("data").GetRawText().ShouldBe(data);
        // The data bytes are copied untouched, immediately before the seq field.
        prefix.AsSpan().EndsWith(raw).ShouldBeTrue();
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(9L)]
    [InlineData(10L)]
    [InlineData(long.MaxValue)]
    public void WriteMessageEnd_WritesSeq(long seq)
    {
        var prefix = ServerFrames.MessagePrefix("api", "all", "1"u8);

        var frame = ParseFrame(CompleteMessage(prefix, seq));

        frame.GetProperty("seq").GetInt64().ShouldBe(seq);
    }

    [Theory]
    [InlineData(0L, ",\"seq\":0}")]
    [InlineData(long.MaxValue, ",\"seq\":9223372036854775807}")]
    public void WriteMessageEnd_WritesExactlyCommaSeqAndBrace(long seq, string expected)
    {
        var destination = new byte[ServerFrames.MessageEndMaxLength];

        var written = ServerFrames.WriteMessageEnd(destination, seq);

        Encoding.UTF8.GetString(destination, 0, written).ShouldBe(expected);
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void MessageEndMaxLength_SufficesForAnyLong(long seq)
    {
        // A destination of exactly MessageEndMaxLength bytes must never overflow, with or without a message id.
        Span<byte> destination = stackalloc byte[ServerFrames.MessageEndMaxLength];

        var written = ServerFrames.WriteMessageEnd(destination, seq, messageId: long.MinValue);

        written.ShouldBeLessThanOrEqualTo(ServerFrames.MessageEndMaxLength);
        destination[written - 1].ShouldBe((byte)'}');
    }

    [Fact]
    public void WriteMessageEnd_WithAMessageId_WritesItAsAStringBeforeSeq()
    {
        var destination = new byte[ServerFrames.MessageEndMaxLength];

        var written = ServerFrames.WriteMessageEnd(destination, 7, messageId: -9223372036854775807);

        Encoding.UTF8.GetString(destination, 0, written).ShouldBe(",\"mid\":\"-9223372036854775807\",\"seq\":7}");
    }

    [Theory]
    [InlineData(TargetKind.User, "bob")]
    [InlineData(TargetKind.Connection, "node-1.c9")]
    [InlineData(TargetKind.Group, "room \"1\" ☃")]
    [InlineData(TargetKind.All, "")]
    public void MessagePrefix_OfATarget_IsThePrefixOfItsToValue(TargetKind kind, string name)
    {
        var target = kind == TargetKind.All ? Target.All : new Target(kind, name);

        var prefix = ServerFrames.MessagePrefix("user:alice", target, "[1,2]"u8);

        prefix.ShouldBe(ServerFrames.MessagePrefix("user:alice", target.ToString(), "[1,2]"u8));
        ParseFrame(CompleteMessage(prefix, 1)).GetProperty("to").GetString().ShouldBe(target.ToString());
    }

    [Fact]
    public void MessagePrefix_BuiltOneAfterAnother_AreEachTheirOwn()
    {
        // The writer behind them is reused: a large message, then small ones, and a long 'to' that does not fit on the stack.
        var large = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new string('x', 100_000)));
        var longTo = "group:" + new string('g', 300);

        var first = ServerFrames.MessagePrefix("user:a", new Target(TargetKind.User, "b"), large);
        var second = ServerFrames.MessagePrefix("user:c", longTo, "2"u8);
        var third = ServerFrames.MessagePrefix("user:e", new Target(TargetKind.User, "f"), "3"u8);

        ParseFrame(CompleteMessage(first, 1)).GetProperty("data").GetString()!.Length.ShouldBe(100_000);
        ParseFrame(CompleteMessage(second, 2)).GetProperty("to").GetString().ShouldBe(longTo);
        var frame = ParseFrame(CompleteMessage(third, 3));
        frame.GetProperty("from").GetString().ShouldBe("user:e");
        frame.GetProperty("to").GetString().ShouldBe("user:f");
        frame.GetProperty("data").GetRawText().ShouldBe("3");
    }

    [Fact]
    public void MessagePrefix_FromAndToNeedingEscapes_StayValidJson()
    {
        const string from = "user:\"quoted\" \\ back\nslash <&>";
        const string to = "group:room\t\"1\"";

        var frame = ParseFrame(CompleteMessage(ServerFrames.MessagePrefix(from, to, "{}"u8), 1));

        frame.GetProperty("from").GetString().ShouldBe(from);
        frame.GetProperty("to").GetString().ShouldBe(to);
    }

    [Fact]
    public void MessagePrefix_OfParsedSend_CarriesClientDataUnchanged()
    {
        const string data = """{ "x" : [1,  2] ,"y":"\u00e9" }""";
        var parsed = ClientCommandParser.Parse(Encoding.UTF8.GetBytes($$"""{"type":"send","to":"group:g","data":{{data}}}"""));

        var prefix = ServerFrames.MessagePrefix("user:alice", parsed.Command.Target.ToString(), parsed.Command.Data.Span);
        var frame = ParseFrame(CompleteMessage(prefix, 5));

        frame.GetProperty("to").GetString().ShouldBe("group:g");
        frame.GetProperty("data").GetRawText().ShouldBe(data);
    }

    [Fact]
    public void MessagePrefix_LargeData_IsPreserved()
    {
        var data = "\"" + new string('x', 1_000_000) + "\"";

        var frame = ParseFrame(CompleteMessage(ServerFrames.MessagePrefix("api", "all", Encoding.UTF8.GetBytes(data)), 1));

        frame.GetProperty("data").GetString()!.Length.ShouldBe(1_000_000);
    }
}
