using System.Text;
using Switchboard.Protocol;

namespace Switchboard.Protocol.Tests;

public class ClientCommandParserTests
{
    private static ParseResult Parse(string json) => ClientCommandParser.Parse(Encoding.UTF8.GetBytes(json));

    private static ClientCommand ParseOk(string json)
    {
        var result = Parse(json);
        result.Error.ShouldBeNull($"'{json}' should parse");
        result.IsSuccess.ShouldBeTrue();
        return result.Command;
    }

    private static void ShouldFail(string json, string code, string? expectedId)
    {
        var result = Parse(json);
        result.IsSuccess.ShouldBeFalse($"'{json}' should be rejected");
        result.Error.ShouldNotBeNull();
        result.Error.Code.ShouldBe(code, $"frame: {json}; message: {result.Error.Message}");
        result.Error.Message.ShouldNotBeNullOrWhiteSpace();
        result.Id.ShouldBe(expectedId, $"frame: {json}");
    }

    private static string DataText(ClientCommand command) => Encoding.UTF8.GetString(command.Data.Span);

    // ---- valid commands ----

    [Theory]
    [InlineData("user:bob", TargetKind.User, "bob")]
    [InlineData("conn:node-1.abc123", TargetKind.Connection, "node-1.abc123")]
    [InlineData("group:room1", TargetKind.Group, "room1")]
    [InlineData("all", TargetKind.All, "")]
    public void Send_ToEachTargetKind_ParsesTarget(string to, TargetKind kind, string name)
    {
        var command = ParseOk($$"""{"type":"send","to":"{{to}}","data":{"text":"hi"},"id":"c1"}""");

        command.Type.ShouldBe(ClientCommandType.Send);
        command.Target.ShouldBe(new Target(kind, name));
        command.Id.ShouldBe("c1");
        DataText(command).ShouldBe("""{"text":"hi"}""");
    }

    [Theory]
    [InlineData("""{"text":"hi","n":[1,2,{"x":null}]}""")]
    [InlineData("""{ "spaced" : [ 1 , 2.50 ,  "é\u00e9\n" ] , "c" : null }""")]
    [InlineData("\"just a string\"")]
    [InlineData("\"\"")]
    [InlineData("\"with \\\"escaped\\\" quotes and \\\\ backslash\"")]
    [InlineData("42")]
    [InlineData("-3.25e+10")]
    [InlineData("0")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("false")]
    [InlineData("[]")]
    [InlineData("[1,\"two\",[3],{\"four\":4}]")]
    [InlineData("{}")]
    public void Send_DataIsExactlyTheRawJsonValue(string data)
    {
        // data in the middle, followed by whitespace and more fields
        var middle = ParseOk($$"""{"type":"send","data":{{data}}  ,"to":"user:bob"}""");
        DataText(middle).ShouldBe(data);

        // data last, right before the closing brace
        var last = ParseOk($$"""{"type":"send","to":"user:bob","data":{{data}}}""");
        DataText(last).ShouldBe(data);

        // data first, with whitespace around the value
        var first = ParseOk("{ \"data\" :\t" + data + "\n , \"to\":\"user:bob\", \"type\":\"send\" }");
        DataText(first).ShouldBe(data);
    }

    [Fact]
    public void Send_DataSlicesTheReceiveBufferWithoutCopying()
    {
        var frame = Encoding.UTF8.GetBytes("""{"type":"send","to":"all","data":[1,2,3]}""");

        var command = ClientCommandParser.Parse(frame).Command;

        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(command.Data, out var segment).ShouldBeTrue();
        segment.Array.ShouldBeSameAs(frame);
        segment.Offset.ShouldBe(Encoding.UTF8.GetByteCount("""{"type":"send","to":"all","data":"""));
        segment.Count.ShouldBe("[1,2,3]".Length);
    }

    [Fact]
    public void Send_FieldOrderIsFree()
    {
        var orders = new[]
        {
            """{"type":"send","to":"user:bob","data":1,"id":"c1"}""",
            """{"id":"c1","data":1,"to":"user:bob","type":"send"}""",
            """{"to":"user:bob","type":"send","id":"c1","data":1}""",
            """{"data":1,"id":"c1","type":"send","to":"user:bob"}""",
        };
        foreach (var json in orders)
        {
            var command = ParseOk(json);
            command.Type.ShouldBe(ClientCommandType.Send);
            command.Target.ShouldBe(new Target(TargetKind.User, "bob"));
            command.Id.ShouldBe("c1");
            DataText(command).ShouldBe("1");
        }
    }

    [Fact]
    public void UnknownFields_AreIgnored_WhateverTheirValue()
    {
        var command = ParseOk("""
            {"future":{"deep":[1,{"type":"ping"}]},"type":"send","x":"y","to":"group:g","n":null,
             "data":"d","arr":[{"to":"user:evil"}],"id":"c7","num":-1.5,"flag":true}
            """);

        command.Type.ShouldBe(ClientCommandType.Send);
        command.Target.ShouldBe(new Target(TargetKind.Group, "g"));
        command.Id.ShouldBe("c7");
        DataText(command).ShouldBe("\"d\"");
    }

    [Fact]
    public void Send_WithoutId_HasNullId()
    {
        var result = Parse("""{"type":"send","to":"all","data":null}""");

        result.IsSuccess.ShouldBeTrue();
        result.Id.ShouldBeNull();
        result.Command.Id.ShouldBeNull();
        DataText(result.Command).ShouldBe("null");
    }

    [Fact]
    public void Send_Key_IsReadWhenGiven_AndRefusedWhenNotAShortString()
    {
        ParseOk("""{"type":"send","to":"all","data":1,"key":"k-1"}""").Key.ShouldBe("k-1");
        ParseOk("""{"type":"send","to":"all","data":1}""").Key.ShouldBeNull();
        ShouldFail("""{"type":"send","to":"all","data":1,"key":7,"id":"s1"}""", ErrorCodes.InvalidField, "s1");
        ShouldFail("""{"type":"send","to":"all","data":1,"key":""}""", ErrorCodes.InvalidField, null);
        ShouldFail($$"""{"type":"send","to":"all","data":1,"key":"{{new string('k', ClientCommandParser.MaxIdLength + 1)}}"}""", ErrorCodes.InvalidField, null);
    }

    [Theory]
    [InlineData("join", ClientCommandType.Join)]
    [InlineData("leave", ClientCommandType.Leave)]
    public void JoinAndLeave_ParseGroupAndId(string type, ClientCommandType expected)
    {
        var command = ParseOk($$"""{"group":"room 1/é","type":"{{type}}","id":"c2"}""");

        command.Type.ShouldBe(expected);
        command.Group.ShouldBe("room 1/é");
        command.Id.ShouldBe("c2");
    }

    [Fact]
    public void Join_GroupNameOfMaxLength_IsAccepted()
    {
        var group = new string('g', Target.MaxNameLength);

        ParseOk($$"""{"type":"join","group":"{{group}}"}""").Group.ShouldBe(group);
    }

    [Fact]
    public void Ping_WithId_Parses()
    {
        var result = Parse("""{"type":"ping","id":"c4"}""");

        result.IsSuccess.ShouldBeTrue();
        result.Command.Type.ShouldBe(ClientCommandType.Ping);
        result.Command.Id.ShouldBe("c4");
        result.Id.ShouldBe("c4");
    }

    [Fact]
    public void Ping_WithoutId_Parses()
    {
        var command = ParseOk("""{"type":"ping"}""");

        command.Type.ShouldBe(ClientCommandType.Ping);
        command.Id.ShouldBeNull();
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(17L)]
    [InlineData(long.MaxValue)]
    public void Ack_ParsesSeq(long seq)
    {
        var command = ParseOk($$"""{"seq":{{seq}},"type":"ack"}""");

        command.Type.ShouldBe(ClientCommandType.Ack);
        command.Seq.ShouldBe(seq);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(17L)]
    [InlineData(long.MaxValue)]
    public void Resume_ParsesSessionAndLastSeq(long lastSeq)
    {
        var command = ParseOk($$"""{"type":"resume","lastSeq":{{lastSeq}},"session":"s-123","id":"r1"}""");

        command.Type.ShouldBe(ClientCommandType.Resume);
        command.Session.ShouldBe("s-123");
        command.Seq.ShouldBe(lastSeq);
        command.Id.ShouldBe("r1");
    }

    [Fact]
    public void IdOfMaxLength_IsAccepted()
    {
        var id = new string('i', ClientCommandParser.MaxIdLength);

        ParseOk($$"""{"type":"ping","id":"{{id}}"}""").Id.ShouldBe(id);
    }

    [Fact]
    public void TrailingWhitespace_IsAccepted()
    {
        ParseOk("  {\"type\":\"ping\"} \r\n\t ").Type.ShouldBe(ClientCommandType.Ping);
    }

    [Fact]
    public void EscapedFieldNamesAndValues_AreUnderstood()
    {
        var command = ParseOk("""{"\u0074ype":"s\u0065nd","t\u006f":"user:b\u00f6b","data":1}""");

        command.Type.ShouldBe(ClientCommandType.Send);
        command.Target.ShouldBe(new Target(TargetKind.User, "böb"));
    }

    [Fact]
    public void DataNestedToMaxDepth_IsAccepted()
    {
        // The frame object is depth 1, so 63 nested arrays reach depth 64.
        var data = new string('[', 63) + new string(']', 63);

        DataText(ParseOk($$"""{"type":"send","to":"all","data":{{data}}}""")).ShouldBe(data);
    }

    // ---- not a single JSON object ----

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("not json")]
    [InlineData("{type:\"ping\"}")]
    [InlineData("{'type':'ping'}")]
    [InlineData("{\"type\":\"ping\",}")]
    [InlineData("{\"type\":\"ping\" \"id\":\"c1\"}")]
    [InlineData("{\"type\":\"send\",\"to\":\"all\",\"data\":[1,2}")]
    [InlineData("{\"type\":\"send\",\"to\":\"all\",\"data\":01}")]
    [InlineData("{\"type\":\"send\",\"to\":\"all\",\"data\":NaN}")]
    [InlineData("{\"type\":\"ping\",\"id\":\"bad \\x escape\"}")]
    [InlineData("{\"type\":\"ping\",\"id\":\"raw\u0001control\"}")]
    public void MalformedJson_IsBadJson(string frame)
    {
        // DESIGN: malformed frames get an `error` frame, so no id is reported even when one was readable.
        ShouldFail(frame, ErrorCodes.BadJson, expectedId: null);
    }

    [Theory]
    [InlineData("{\"type\":\"ping\",\"id\":\"c1\"")]
    [InlineData("{\"type\":\"ping\",\"id\":\"c1\",")]
    [InlineData("{\"type\":\"ping\",\"id\":\"c1\",\"data\":")]
    [InlineData("{\"type\":\"send\",\"id\":\"c1\",\"to\":\"all\",\"data\":{\"a\":[1,2")]
    [InlineData("{\"type\":\"send\",\"id\":\"c1\",\"to\":\"all\",\"data\":\"unterminated")]
    [InlineData("{\"type\":\"pi")]
    [InlineData("{\"type")]
    public void TruncatedJson_IsBadJson(string frame)
    {
        ShouldFail(frame, ErrorCodes.BadJson, expectedId: null);
    }

    [Theory]
    [InlineData("[{\"type\":\"ping\"}]")]
    [InlineData("[]")]
    [InlineData("\"ping\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    public void NonObjectJson_IsBadJson(string frame)
    {
        ShouldFail(frame, ErrorCodes.BadJson, expectedId: null);
    }

    [Theory]
    [InlineData("{\"type\":\"ping\",\"id\":\"c1\"}{\"type\":\"ping\",\"id\":\"c2\"}")]
    [InlineData("{\"type\":\"ping\"} {\"type\":\"ping\"}")]
    [InlineData("{\"type\":\"ping\"}\n{\"type\":\"ping\"}")]
    [InlineData("{\"type\":\"ping\"}[]")]
    [InlineData("{\"type\":\"ping\"}1")]
    [InlineData("{\"type\":\"ping\"}}")]
    public void TwoValuesInOneFrame_IsBadJson(string frame)
    {
        ShouldFail(frame, ErrorCodes.BadJson, expectedId: null);
    }

    private static byte[] Frame(string before, byte[] bad, string after) =>
        [.. Encoding.UTF8.GetBytes(before), .. bad, .. Encoding.UTF8.GetBytes(after)];

    private static readonly byte[] LoneContinuation = [0x80];
    private static readonly byte[] Overlong = [0xC0, 0xAF];
    private static readonly byte[] TruncatedSequence = [0xE2, 0x82];
    private static readonly byte[] InvalidByte = [0xFF];
    private static readonly byte[] Surrogate = [0xED, 0xA0, 0x80];

    public static TheoryData<string, byte[]> InvalidUtf8InReadFields() => new()
    {
        { "in type", Frame("{\"type\":\"pi", LoneContinuation, "ng\"}") },
        { "in id", Frame("{\"type\":\"ping\",\"id\":\"c", InvalidByte, "\"}") },
        { "in to", Frame("{\"type\":\"send\",\"data\":1,\"to\":\"user:b", Overlong, "\"}") },
        { "in group", Frame("{\"type\":\"join\",\"group\":\"g", Surrogate, "\"}") },
        { "in session", Frame("{\"type\":\"resume\",\"lastSeq\":1,\"session\":\"s", TruncatedSequence, "\"}") },
        { "outside strings", Frame("{\"type\":\"ping\"", InvalidByte, "}") },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8InReadFields))]
    public void InvalidUtf8_InFieldsTheParserReads_IsBadJson(string where, byte[] frame)
    {
        var result = ClientCommandParser.Parse(frame);

        result.IsSuccess.ShouldBeFalse($"invalid UTF-8 {where} must be rejected");
        result.Error!.Code.ShouldBe(ErrorCodes.BadJson, $"invalid UTF-8 {where}");
    }

    public static TheoryData<string, byte[]> InvalidUtf8InSkippedValues() => new()
    {
        { "in data string", Frame("{\"type\":\"send\",\"to\":\"all\",\"data\":\"x", TruncatedSequence, "\"}") },
        { "in nested data", Frame("{\"type\":\"send\",\"to\":\"all\",\"data\":{\"k\":[\"", InvalidByte, "\"]}}") },
        { "in data key", Frame("{\"type\":\"send\",\"to\":\"all\",\"data\":{\"", Overlong, "\":1}}") },
        { "in unknown field", Frame("{\"type\":\"ping\",\"extra\":\"", LoneContinuation, "\"}") },
        { "in field name", Frame("{\"type\":\"ping\",\"", InvalidByte, "\":1}") },
    };

    // Utf8JsonReader does not validate UTF-8 inside strings it only skips; GetString() is what throws.
    // So invalid bytes in 'data' are accepted and relayed verbatim into other clients' text frames.
    [Theory]
    [MemberData(nameof(InvalidUtf8InSkippedValues))]
    public void InvalidUtf8_InDataOrIgnoredFields_IsBadJson(string where, byte[] frame)
    {
        var result = ClientCommandParser.Parse(frame);

        result.IsSuccess.ShouldBeFalse($"invalid UTF-8 {where} must be rejected");
        result.Error!.Code.ShouldBe(ErrorCodes.BadJson, $"invalid UTF-8 {where}");
    }

    [Fact]
    public void DataNestedPastMaxDepth_IsBadJson()
    {
        var data = new string('[', 64) + new string(']', 64);

        ShouldFail($$"""{"type":"send","to":"all","id":"c1","data":{{data}}}""", ErrorCodes.BadJson, expectedId: null);
    }

    [Fact]
    public void VeryDeepNesting_IsBadJsonWithoutStackOverflow()
    {
        var data = new string('[', 100_000) + new string(']', 100_000);

        ShouldFail($$"""{"type":"send","to":"all","data":{{data}}}""", ErrorCodes.BadJson, expectedId: null);
    }

    // ---- type ----

    [Theory]
    [InlineData("""{"id":"c1"}""", "c1")]
    [InlineData("""{}""", null)]
    [InlineData("""{"to":"all","data":1,"id":"c1"}""", "c1")]
    public void MissingType_IsMissingType(string frame, string? id)
    {
        ShouldFail(frame, ErrorCodes.MissingType, id);
    }

    [Theory]
    [InlineData("""{"type":5,"id":"c1"}""")]
    [InlineData("""{"id":"c1","type":null}""")]
    [InlineData("""{"type":true,"id":"c1"}""")]
    public void TypeNotAString_IsMissingType(string frame)
    {
        ShouldFail(frame, ErrorCodes.MissingType, "c1");
    }

    [Theory]
    [InlineData("""{"type":{},"id":"c1"}""")]
    [InlineData("""{"id":"c1","type":{"name":"ping"}}""")]
    [InlineData("""{"id":"c1","type":["ping"]}""")]
    [InlineData("""{"type":[],"id":"c1"}""")]
    public void TypeAsObjectOrArray_IsMissingType(string frame)
    {
        ShouldFail(frame, ErrorCodes.MissingType, "c1");
    }

    [Theory]
    [InlineData("""{"type":"publish","id":"c1"}""")]
    [InlineData("""{"type":"SEND","id":"c1","to":"all","data":1}""")]
    [InlineData("""{"type":"","id":"c1"}""")]
    [InlineData("""{"type":"welcome","id":"c1"}""")]
    [InlineData("""{"type":"message","id":"c1"}""")]
    [InlineData("""{"id":"c1","type":" ping"}""")]
    public void UnknownType_IsUnknownType(string frame)
    {
        ShouldFail(frame, ErrorCodes.UnknownType, "c1");
    }

    [Fact]
    public void UnknownType_MessageIsShortenedForLongTypes()
    {
        var result = Parse($$"""{"type":"{{new string('x', 5000)}}"}""");

        result.Error!.Code.ShouldBe(ErrorCodes.UnknownType);
        result.Error.Message.Length.ShouldBeLessThan(200);
    }

    // ---- missing fields ----

    [Theory]
    [InlineData("""{"type":"send","data":1,"id":"c1"}""")]
    [InlineData("""{"type":"send","to":"user:bob","id":"c1"}""")]
    [InlineData("""{"type":"send","id":"c1"}""")]
    [InlineData("""{"type":"join","id":"c1"}""")]
    [InlineData("""{"type":"leave","id":"c1"}""")]
    [InlineData("""{"type":"ack","id":"c1"}""")]
    [InlineData("""{"type":"resume","lastSeq":3,"id":"c1"}""")]
    [InlineData("""{"type":"resume","session":"s1","id":"c1"}""")]
    public void MissingRequiredField_IsMissingField(string frame)
    {
        ShouldFail(frame, ErrorCodes.MissingField, "c1");
    }

    // ---- wrong field types and values ----

    [Theory]
    [InlineData("""{"type":"send","to":5,"data":1,"id":"c1"}""")]
    [InlineData("""{"type":"send","to":null,"data":1,"id":"c1"}""")]
    [InlineData("""{"type":"send","to":["user:bob"],"data":1,"id":"c1"}""")]
    [InlineData("""{"type":"send","to":{"user":"bob"},"data":1,"id":"c1"}""")]
    [InlineData("""{"type":"join","group":{"name":"g"},"id":"c1"}""")]
    [InlineData("""{"type":"join","group":7,"id":"c1"}""")]
    [InlineData("""{"type":"leave","group":["g"],"id":"c1"}""")]
    [InlineData("""{"type":"resume","session":42,"lastSeq":1,"id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":-1,"id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":1.5,"id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":"3","id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":null,"id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":1e3,"id":"c1"}""")]
    [InlineData("""{"type":"ack","seq":9223372036854775808,"id":"c1"}""")]
    [InlineData("""{"type":"resume","session":"s1","lastSeq":-5,"id":"c1"}""")]
    [InlineData("""{"type":"resume","session":"s1","lastSeq":0.5,"id":"c1"}""")]
    [InlineData("""{"type":"resume","session":"s1","lastSeq":{"n":1},"id":"c1"}""")]
    public void WrongFieldType_IsInvalidField_WithId(string frame)
    {
        ShouldFail(frame, ErrorCodes.InvalidField, "c1");
    }

    [Theory]
    [InlineData("""{"type":"ping","id":5}""")]
    [InlineData("""{"type":"ping","id":null}""")]
    [InlineData("""{"type":"ping","id":{"v":"c1"}}""")]
    [InlineData("""{"type":"ping","id":["c1"]}""")]
    [InlineData("""{"type":"ping","id":""}""")]
    public void IdNotAUsableString_IsInvalidField(string frame)
    {
        ShouldFail(frame, ErrorCodes.InvalidField, expectedId: null);
    }

    [Fact]
    public void IdTooLong_IsInvalidField()
    {
        var id = new string('i', ClientCommandParser.MaxIdLength + 1);

        ShouldFail($$"""{"type":"ping","id":"{{id}}"}""", ErrorCodes.InvalidField, expectedId: null);
    }

    [Fact]
    public void BadIdAndOtherFields_AreReadPastTheBadId()
    {
        // A bad id is skipped cleanly: the fields after it are still parsed and reported on.
        ShouldFail("""{"id":{"a":[1,2]},"type":"join","group":"g"}""", ErrorCodes.InvalidField, expectedId: null);
    }

    // ---- targets ----

    [Theory]
    [InlineData("bob")]
    [InlineData("users:bob")]
    [InlineData("User:bob")]
    [InlineData("connection:x.y")]
    [InlineData("groups:g")]
    [InlineData("All")]
    [InlineData("all:")]
    [InlineData(" user:bob")]
    [InlineData("")]
    public void UnknownTargetPrefix_IsBadTarget(string to)
    {
        ShouldFail($$"""{"type":"send","to":"{{to}}","data":1,"id":"c1"}""", ErrorCodes.BadTarget, "c1");
    }

    [Theory]
    [InlineData("user:")]
    [InlineData("group:")]
    [InlineData("conn:")]
    public void EmptyTargetName_IsBadTarget(string to)
    {
        ShouldFail($$"""{"type":"send","to":"{{to}}","data":1,"id":"c1"}""", ErrorCodes.BadTarget, "c1");
    }

    [Theory]
    [InlineData("user:")]
    [InlineData("group:")]
    [InlineData("conn:")]
    public void TargetNameOverMaxLength_IsBadTarget(string prefix)
    {
        var to = prefix + new string('n', Target.MaxNameLength + 1);

        ShouldFail($$"""{"type":"send","to":"{{to}}","data":1,"id":"c1"}""", ErrorCodes.BadTarget, "c1");
    }

    [Theory]
    [InlineData("user:")]
    [InlineData("group:")]
    [InlineData("conn:")]
    public void TargetNameOfMaxLength_IsAccepted(string prefix)
    {
        var name = new string('n', Target.MaxNameLength);

        ParseOk($$"""{"type":"send","to":"{{prefix}}{{name}}","data":1}""").Target.Name.ShouldBe(name);
    }

    [Theory]
    [InlineData("user:bo\\u0000b")]
    [InlineData("group:a\\nb")]
    [InlineData("conn:x\\u007f")]
    public void TargetNameWithControlCharacter_IsBadTarget(string to)
    {
        ShouldFail($$"""{"type":"send","to":"{{to}}","data":1,"id":"c1"}""", ErrorCodes.BadTarget, "c1");
    }

    // ---- group names ----

    [Theory]
    [InlineData("join")]
    [InlineData("leave")]
    public void EmptyGroupName_IsInvalidField(string type)
    {
        ShouldFail($$"""{"type":"{{type}}","group":"","id":"c1"}""", ErrorCodes.InvalidField, "c1");
    }

    [Theory]
    [InlineData("join")]
    [InlineData("leave")]
    public void GroupNameOverMaxLength_IsInvalidField(string type)
    {
        var group = new string('g', Target.MaxNameLength + 1);

        ShouldFail($$"""{"type":"{{type}}","group":"{{group}}","id":"c1"}""", ErrorCodes.InvalidField, "c1");
    }

    [Theory]
    [InlineData("room\\u0000")]
    [InlineData("ro\\tom")]
    [InlineData("\\nroom")]
    [InlineData("room\\u001b[31m")]
    [InlineData("room\\u0085")]
    public void GroupNameWithControlCharacter_IsInvalidField(string group)
    {
        ShouldFail($$"""{"type":"join","group":"{{group}}","id":"c1"}""", ErrorCodes.InvalidField, "c1");
    }

    // ---- precedence ----

    [Fact]
    public void UnknownType_TakesPrecedenceOverFieldProblems()
    {
        ShouldFail("""{"type":"nope","to":5,"id":"c1"}""", ErrorCodes.UnknownType, "c1");
    }

    [Fact]
    public void InvalidField_TakesPrecedenceOverMissingField()
    {
        // 'to' has the wrong type: report that, not that 'data' is missing.
        ShouldFail("""{"type":"send","to":5,"id":"c1"}""", ErrorCodes.InvalidField, "c1");
    }
}
