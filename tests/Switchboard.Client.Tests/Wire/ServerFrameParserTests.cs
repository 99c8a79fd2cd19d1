using System.Text;
using System.Text.Json;
using Switchboard.Client.Wire;
using Switchboard.Protocol;

namespace Switchboard.Client.Tests.Wire;

public sealed class ServerFrameParserTests
{
    private static ServerFrame Parse(string json) => ServerFrameParser.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Welcome_ReadsEveryField()
    {
        var frame = Parse("""{"type":"welcome","connectionId":"c-1","userId":"alice","node":"node-2","session":"s-9","resumed":true}""");
        frame.ShouldBe(new WelcomeFrame("c-1", "alice", "node-2", "s-9", Resumed: true));
    }

    [Fact]
    public void Welcome_AsTheNodeWritesIt_RoundTrips()
    {
        var frame = ServerFrameParser.Parse(ServerFrames.Welcome("c-1", "alice", "node-2", "s-9", resumed: false));
        frame.ShouldBe(new WelcomeFrame("c-1", "alice", "node-2", "s-9", Resumed: false));
    }

    [Fact]
    public void Welcome_WithoutSession_IsInvalid()
    {
        Parse("""{"type":"welcome","connectionId":"c-1","userId":"alice","node":"node-2"}""").ShouldBeOfType<InvalidFrame>();
    }

    [Fact]
    public void Message_ReadsFromToDataAndSeq()
    {
        var frame = Parse("""{"type":"message","from":"user:alice","to":"user:bob","data":{"text":"hi","n":[1,2]},"seq":18}""")
            .ShouldBeOfType<MessageFrame>();
        frame.Message.From.ShouldBe("user:alice");
        frame.Message.To.ShouldBe("user:bob");
        frame.Message.Seq.ShouldBe(18);
        frame.Message.Data.GetProperty("text").GetString().ShouldBe("hi");
        frame.Message.Data.GetProperty("n")[1].GetInt32().ShouldBe(2);
    }

    [Fact]
    public void Message_AsTheNodeWritesIt_RoundTrips()
    {
        var prefix = ServerFrames.MessagePrefix("user:alice", "group:room1", """["x",1]"""u8);
        var bytes = new byte[prefix.Length + ServerFrames.MessageEndMaxLength];
        prefix.CopyTo(bytes, 0);
        var length = prefix.Length + ServerFrames.WriteMessageEnd(bytes.AsSpan(prefix.Length), 123456789012);

        var frame = ServerFrameParser.Parse(bytes.AsSpan(0, length)).ShouldBeOfType<MessageFrame>();
        frame.Message.From.ShouldBe("user:alice");
        frame.Message.To.ShouldBe("group:room1");
        frame.Message.Seq.ShouldBe(123456789012);
        frame.Message.Data.GetRawText().ShouldBe("""["x",1]""");
    }

    [Fact]
    public void Message_WithItsId_AsTheNodeWritesItForIds1()
    {
        var prefix = ServerFrames.MessagePrefix("user:alice", "user:bob", "1"u8);
        var bytes = new byte[prefix.Length + ServerFrames.MessageEndMaxLength];
        prefix.CopyTo(bytes, 0);
        var length = prefix.Length + ServerFrames.WriteMessageEnd(bytes.AsSpan(prefix.Length), 7, messageId: -42);

        var frame = ServerFrameParser.Parse(bytes.AsSpan(0, length)).ShouldBeOfType<MessageFrame>();
        frame.MessageId.ShouldBe(-42);
        frame.Message.Seq.ShouldBe(7);
        Parse("""{"type":"message","from":"api","to":"all","data":1,"seq":3}""").ShouldBeOfType<MessageFrame>().MessageId.ShouldBeNull();
    }

    [Fact]
    public void Message_Data_OutlivesTheReceiveBuffer()
    {
        var buffer = Encoding.UTF8.GetBytes("""{"type":"message","from":"user:alice","to":"all","data":{"text":"hello"},"seq":1}""");
        var frame = ServerFrameParser.Parse(buffer).ShouldBeOfType<MessageFrame>();
        Array.Fill(buffer, (byte)'x');
        frame.Message.Data.GetProperty("text").GetString().ShouldBe("hello");
    }

    [Theory]
    [InlineData("null", JsonValueKind.Null)]
    [InlineData("\"text\"", JsonValueKind.String)]
    [InlineData("42", JsonValueKind.Number)]
    [InlineData("false", JsonValueKind.False)]
    [InlineData("[]", JsonValueKind.Array)]
    public void Message_DataMayBeAnyJsonValue(string data, JsonValueKind kind)
    {
        var frame = Parse($$"""{"type":"message","from":"api","to":"all","data":{{data}},"seq":3}""").ShouldBeOfType<MessageFrame>();
        frame.Message.Data.ValueKind.ShouldBe(kind);
    }

    [Fact]
    public void Message_WithoutData_HasNullData()
    {
        var frame = Parse("""{"type":"message","from":"api","to":"all","seq":3}""").ShouldBeOfType<MessageFrame>();
        frame.Message.Data.ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Theory]
    [InlineData("""{"type":"message","from":"user:a","to":"all","data":1}""")]
    [InlineData("""{"type":"message","from":"user:a","to":"all","data":1,"seq":"7"}""")]
    [InlineData("""{"type":"message","to":"all","data":1,"seq":7}""")]
    public void Message_WithoutAUsableSeqOrFrom_IsInvalid(string json)
    {
        Parse(json).ShouldBeOfType<InvalidFrame>();
    }

    [Fact]
    public void ReplyOk_AsTheNodeWritesIt()
    {
        ServerFrameParser.Parse(ServerFrames.ReplyOk("c1")).ShouldBe(new ReplyFrame("c1", true, null, null));
    }

    [Fact]
    public void ReplyError_AsTheNodeWritesIt_CarriesCodeAndMessage()
    {
        var bytes = ServerFrames.ReplyError("c7", new ProtocolError(ErrorCodes.BadTarget, "unknown target 'bob'"));
        ServerFrameParser.Parse(bytes).ShouldBe(new ReplyFrame("c7", false, ErrorCodes.BadTarget, "unknown target 'bob'"));
    }

    [Fact]
    public void ReplyError_WithoutErrorObject_IsStillAFailure()
    {
        Parse("""{"type":"reply","id":"c1","ok":false}""").ShouldBe(new ReplyFrame("c1", false, "unknown", ""));
    }

    [Fact]
    public void Reply_WithoutOk_IsInvalid()
    {
        Parse("""{"type":"reply","id":"c1"}""").ShouldBeOfType<InvalidFrame>();
    }

    [Fact]
    public void Reconnect_ReadsReasonUrlAndToken()
    {
        Parse("""{"type":"reconnect","reason":"drain","url":"ws://127.0.0.1:7002/v1/ws","token":"t"}""")
            .ShouldBe(new ReconnectFrame("drain", "ws://127.0.0.1:7002/v1/ws", "t"));
    }

    [Fact]
    public void Reconnect_WithReasonOnly_MeansAskTheGateway()
    {
        Parse("""{"type":"reconnect","reason":"rebalance"}""").ShouldBe(new ReconnectFrame("rebalance", null, null));
    }

    [Fact]
    public void Error_AsTheNodeWritesIt()
    {
        ServerFrameParser.Parse(ServerFrames.Error(new ProtocolError(ErrorCodes.BadJson, "not JSON")))
            .ShouldBe(new ErrorFrame(ErrorCodes.BadJson, "not JSON"));
    }

    [Fact]
    public void FieldOrder_DoesNotMatter()
    {
        Parse("""{"seq":2,"data":{"type":"inner"},"to":"all","from":"api","type":"message"}""")
            .ShouldBeOfType<MessageFrame>().Message.Data.GetProperty("type").GetString().ShouldBe("inner");
    }

    [Fact]
    public void UnknownFields_AreSkipped()
    {
        Parse("""{"type":"reply","extra":{"deep":[1,{"a":null}]},"id":"c2","ok":true,"more":"x"}""")
            .ShouldBe(new ReplyFrame("c2", true, null, null));
    }

    [Fact]
    public void UnknownType_IsKeptApartForLaterVersions()
    {
        Parse("""{"type":"presence","user":"bob"}""").ShouldBe(new UnknownFrame("presence"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("\"welcome\"")]
    [InlineData("{\"type\":\"reply\",\"id\":\"c1\",\"ok\":true}{}")]
    [InlineData("{\"type\":\"reply\",\"id\":\"c1\"")]
    [InlineData("{\"id\":\"c1\",\"ok\":true}")]
    [InlineData("{\"type\":7}")]
    [InlineData("")]
    public void Malformed_IsInvalidNotAnException(string json)
    {
        Parse(json).ShouldBeOfType<InvalidFrame>();
    }

    [Fact]
    public void InvalidUtf8_IsInvalidNotAnException()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"type":"error","code":"x","message":"AB"}""");
        bytes[^4] = 0xC3; // a lead byte with no continuation
        ServerFrameParser.Parse(bytes).ShouldBeOfType<InvalidFrame>();
    }
}
