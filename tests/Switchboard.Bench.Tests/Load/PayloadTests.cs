using System.Text;
using Switchboard.Bench.Load;
using Switchboard.Protocol;

namespace Switchboard.Bench.Tests.Load;

/// <summary>The bench's frame reader: the fast path by position reads what the JSON reader reads, and leaves every other shape to it.</summary>
public sealed class PayloadTests
{
    public static TheoryData<string> MessageFrames() => new()
    {
        Frame(padding: 0, messageId: null),
        Frame(padding: 100, messageId: null),
        Frame(padding: 0, messageId: 987654321),
    };

    public static TheoryData<string, long> PacedMessageFrames() => new()
    {
        { Frame(padding: 0, messageId: null, due: 123456780000), 123456780000 },
        { Frame(padding: 100, messageId: 987654321, due: long.MaxValue), long.MaxValue },
        { Frame(padding: 0, messageId: null, due: 0), 0 },
    };

    [Theory]
    [MemberData(nameof(MessageFrames))]
    public void ANodesMessageFrame_IsReadByPosition_AsTheJsonReaderReadsIt(string frame)
    {
        var bytes = Encoding.UTF8.GetBytes(frame);

        Payload.TryReadBenchMessage(bytes, out var fast).ShouldBeTrue();

        fast.ShouldBe(Payload.ReadJson(bytes));
        fast.Sender.ShouldBe(7);
        fast.Number.ShouldBe(42);
        fast.Timestamp.ShouldBe(123456789012);
        fast.Seq.ShouldBe(31);
    }

    [Theory]
    [MemberData(nameof(PacedMessageFrames))]
    public void APacedSendersDueTime_IsReadByPosition_AsTheJsonReaderReadsIt(string frame, long due)
    {
        var bytes = Encoding.UTF8.GetBytes(frame);

        Payload.TryReadBenchMessage(bytes, out var fast).ShouldBeTrue();

        fast.ShouldBe(Payload.ReadJson(bytes));
        fast.Due.ShouldBe(due);
        fast.Timestamp.ShouldBe(123456789012);
        fast.Seq.ShouldBe(31);
        frame.Contains("\"d\":", StringComparison.Ordinal).ShouldBe(due != 0, "an unpaced sender writes no due time");
    }

    [Fact]
    public void TheLongestSend_FitsMaxLength()
    {
        var send = new byte[Payload.MaxLength("group:bench", 3)];

        var length = Payload.Write(send, "group:bench"u8, int.MinValue, long.MinValue, long.MinValue, 3, long.MinValue);

        length.ShouldBeLessThanOrEqualTo(send.Length);
    }

    [Theory]
    [InlineData("""{"type":"message","from":"u1","to":"group:bench","data":{"s":1,"n":2,"t":3,"d":},"seq":3}""")]
    [InlineData("""{"type":"message","from":"u1","to":"group:bench","data":"hello","seq":3}""")]
    [InlineData("""{"type":"message","from":"u1","to":"group:bench","data":{"s":1,"n":2},"seq":3}""")]
    [InlineData("""{"type":"message","from":"u1","to":"group:bench","data":{"s":1,"n":2,"t":3},"seq":3,"extra":1}""")]
    [InlineData("""{"type":"send","to":"group:bench","data":{"s":1,"n":2,"t":3}}""")]
    [InlineData("""{"type":"reply","id":"join","ok":true}""")]
    public void AnyOtherShape_IsLeftToTheJsonReader(string frame)
    {
        var bytes = Encoding.UTF8.GetBytes(frame);

        Payload.TryReadBenchMessage(bytes, out _).ShouldBeFalse();
        Payload.Read(bytes).ShouldBe(Payload.ReadJson(bytes));
    }

    private static string Frame(int padding, long? messageId, long due = 0)
    {
        var send = new byte[Payload.MaxLength("group:bench", padding)];
        var length = Payload.Write(send, "group:bench"u8, sender: 7, number: 42, timestamp: 123456789012, padding, due);
        // The node's frame carries the sender's data as the sender wrote it.
        var data = Encoding.UTF8.GetString(send, 0, length);
        data = data[(data.IndexOf("\"data\":", StringComparison.Ordinal) + 7)..^1];
        var prefix = ServerFrames.MessagePrefix("u7", "group:bench", Encoding.UTF8.GetBytes(data));
        var end = new byte[ServerFrames.MessageEndMaxLength];
        var endLength = ServerFrames.WriteMessageEnd(end, 31, messageId);
        return Encoding.UTF8.GetString(prefix) + Encoding.UTF8.GetString(end, 0, endLength);
    }
}
