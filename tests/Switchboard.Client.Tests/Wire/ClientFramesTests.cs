using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Switchboard.Client.Wire;
using Switchboard.Protocol;

namespace Switchboard.Client.Tests.Wire;

public sealed class ClientFramesTests
{
    [Fact]
    public void Send_JsonElement_IsASendTheNodeParses()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using var data = JsonDocument.Parse("""{"text":"hi"}""");
        ClientFrames.Send(buffer, "user:bob", data.RootElement, "c1");

        Encoding.UTF8.GetString(buffer.WrittenSpan).ShouldBe("""{"type":"send","to":"user:bob","data":{"text":"hi"},"id":"c1"}""");
        var parsed = ClientCommandParser.Parse(buffer.WrittenMemory);
        parsed.IsSuccess.ShouldBeTrue();
        parsed.Command.Type.ShouldBe(ClientCommandType.Send);
        parsed.Command.Target.ShouldBe(new Target(TargetKind.User, "bob"));
        parsed.Command.Id.ShouldBe("c1");
        Encoding.UTF8.GetString(parsed.Command.Data.Span).ShouldBe("""{"text":"hi"}""");
    }

    [Fact]
    public void Send_WithAKey_CarriesItForTheNode()
    {
        var buffer = new ArrayBufferWriter<byte>();
        ClientFrames.Send(buffer, "user:bob", JsonSerializer.SerializeToElement(1), "c1", key: "k.1");

        Encoding.UTF8.GetString(buffer.WrittenSpan).ShouldBe("""{"type":"send","to":"user:bob","data":1,"id":"c1","key":"k.1"}""");
        ClientCommandParser.Parse(buffer.WrittenMemory).Command.Key.ShouldBe("k.1");
    }

    [Fact]
    public void Send_Typed_UsesTheSourceGeneratedContract()
    {
        var buffer = new ArrayBufferWriter<byte>();
        ClientFrames.Send(buffer, "group:room1", new Chat("hello", 3), TestJsonContext.Default.Chat, "c2");
        Encoding.UTF8.GetString(buffer.WrittenSpan).ShouldBe("""{"type":"send","to":"group:room1","data":{"text":"hello","count":3},"id":"c2"}""");
    }

    [Fact]
    public void SendRaw_KeepsTheBytes()
    {
        var buffer = new ArrayBufferWriter<byte>();
        ClientFrames.SendRaw(buffer, "all", """[1, "two"]"""u8.ToArray(), "c3");
        var parsed = ClientCommandParser.Parse(buffer.WrittenMemory);
        parsed.IsSuccess.ShouldBeTrue();
        parsed.Command.Target.Kind.ShouldBe(TargetKind.All);
        JsonDocument.Parse(parsed.Command.Data).RootElement[1].GetString().ShouldBe("two");
    }

    [Theory]
    [InlineData("{\"a\":")]
    [InlineData("1 2")]
    [InlineData("")]
    public void SendRaw_NotOneJsonValue_Throws(string data)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Should.Throw<ArgumentException>(() => ClientFrames.SendRaw(buffer, "all", Encoding.UTF8.GetBytes(data), "c4"));
    }

    [Fact]
    public void JoinLeavePing_AreCommandsTheNodeParses()
    {
        var join = new ArrayBufferWriter<byte>();
        ClientFrames.Join(join, "room1", "c5");
        Encoding.UTF8.GetString(join.WrittenSpan).ShouldBe("""{"type":"join","group":"room1","id":"c5"}""");
        ClientCommandParser.Parse(join.WrittenMemory).Command.Group.ShouldBe("room1");

        var leave = new ArrayBufferWriter<byte>();
        ClientFrames.Leave(leave, "room1", "c6");
        var parsedLeave = ClientCommandParser.Parse(leave.WrittenMemory);
        parsedLeave.Command.Type.ShouldBe(ClientCommandType.Leave);
        parsedLeave.Command.Id.ShouldBe("c6");

        var ping = new ArrayBufferWriter<byte>();
        ClientFrames.Ping(ping, "c7");
        Encoding.UTF8.GetString(ping.WrittenSpan).ShouldBe("""{"type":"ping","id":"c7"}""");
        ClientCommandParser.Parse(ping.WrittenMemory).Command.Type.ShouldBe(ClientCommandType.Ping);
    }

    [Fact]
    public void Strings_AreEscaped()
    {
        var buffer = new ArrayBufferWriter<byte>();
        ClientFrames.Join(buffer, "a\"b\\c", "c8");
        ClientCommandParser.Parse(buffer.WrittenMemory).Command.Group.ShouldBe("a\"b\\c");
    }
}

public sealed record Chat(string Text, int Count);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Chat))]
internal sealed partial class TestJsonContext : JsonSerializerContext;
