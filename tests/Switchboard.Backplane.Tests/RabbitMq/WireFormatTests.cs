using System.Globalization;
using System.Text;
using System.Buffers;
using Switchboard.Backplane.RabbitMq;
using Switchboard.Protocol;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>The RabbitMQ backplane's wire: frame batches, group routing keys, merged presence.</summary>
public sealed class WireFormatTests
{
    [Fact]
    public void FrameBatch_RoundTripsEveryTargetKindAndOrigin()
    {
        var sent = new[]
        {
            TestMessages.Create("m1", "node-a", new Target(TargetKind.User, "bob")),
            TestMessages.Create("m2", null, new Target(TargetKind.Connection, "node-b.x1")),
            TestMessages.Create("m3", "node-é", new Target(TargetKind.Group, "room ☃")),
            TestMessages.Create("m4", "node-a", Target.All),
        };
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var message in sent)
        {
            FrameBatch.Append(buffer, message);
        }

        var received = FrameBatch.Read(buffer.WrittenSpan);

        received.Count.ShouldBe(4);
        for (var i = 0; i < sent.Length; i++)
        {
            received[i].Target.ShouldBe(sent[i].Target);
            received[i].From.ShouldBe(sent[i].From);
            received[i].OriginNodeId.ShouldBe(sent[i].OriginNodeId);
            received[i].FramePrefix.ShouldBe(sent[i].FramePrefix);
            received[i].Id.ShouldBe(sent[i].Id);
        }
        FrameBatch.Count(buffer.WrittenSpan).ShouldBe(4);
    }

    [Fact]
    public void FrameBatch_ReadsEachSenderAndOrigin_WhenTheyChangeFromMessageToMessage()
    {
        // Repeats, a change to a value of the same length, a prefix of the last value, and back again: a reader that
        // reuses the last message's string must notice every change.
        (string From, string? Origin)[] cases =
        [
            ("user:alice", "node-a"), ("user:alice", "node-a"), ("user:alicf", "node-b"), ("user:ali", "node-b"),
            ("user:alice", null), ("api", null), ("api", "node-a"), ("user:é", "node-é"), ("user:é", "node-é"),
        ];
        var sent = cases.Select((c, i) => new RoutedMessage(new Target(TargetKind.User, "bob"), c.From, Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)), c.Origin)).ToArray();
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var message in sent)
        {
            FrameBatch.Append(buffer, message);
        }

        var received = FrameBatch.Read(buffer.WrittenSpan);

        received.Select(m => (m.From, m.OriginNodeId)).ShouldBe(cases);
        received.Select(m => m.FramePrefix).ShouldBe(sent.Select(m => m.FramePrefix));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 9 })]
    [InlineData(new byte[] { 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 65, 1, 0, 66, 0, 0, 1, 0, 0, 0, 65 })]
    [InlineData(new byte[] { 2, 7 })]
    [InlineData(new byte[] { 2, 0, 1, 0, 0 })]
    [InlineData(new byte[] { 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 65, 1, 0, 66, 0, 0, 1, 0, 0, 0, 65 })]
    [InlineData(new byte[] { 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 65 })]
    [InlineData(new byte[] { 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 65, 1, 0, 66, 0, 0, 255, 255, 255, 127 })]
    [InlineData(new byte[] { 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xC3, 1, 0, 66, 0, 0, 1, 0, 0, 0, 65 })]
    [InlineData(new byte[] { 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 65, 0, 0, 0, 0, 1, 0, 0, 0, 65 })]
    public void FrameBatch_RejectsMalformedBodies(byte[] body)
    {
        Should.Throw<FormatException>(() => FrameBatch.Read(body));
    }

    [Theory]
    [InlineData("room", "g.room")]
    [InlineData("a.b", "g.a.b")]
    [InlineData("*", "g.%2A")]
    [InlineData("#", "g.%23")]
    [InlineData("50%", "g.50%25")]
    [InlineData("%2A", "g.%252A")]
    public void GroupKey_EscapesTopicWildcards(string group, string key)
    {
        RabbitMqNames.GroupKey(group).ShouldBe(key);
    }

    [Fact]
    public void GroupKey_OfALongName_IsAHashWithinTheRoutingKeyLimit()
    {
        var longName = new string('☃', Target.MaxNameLength);

        var key = RabbitMqNames.GroupKey(longName);

        key.ShouldStartWith("h.");
        System.Text.Encoding.UTF8.GetByteCount(key).ShouldBeLessThanOrEqualTo(255);
        RabbitMqNames.GroupKey(longName[..^1] + "x").ShouldNotBe(key);
    }

    [Fact]
    public void NodeQueueName_MapsBackToItsNodeId_AndOtherQueuesToNull()
    {
        var names = new RabbitMqNames("sb");

        names.NodeIdOfQueue(names.NodeQueue("node.1")).ShouldBe("node.1");
        names.NodeIdOfQueue("other.node.x").ShouldBeNull();
        names.NodeIdOfQueue("sb.node.").ShouldBeNull();
    }

    [Fact]
    public void PresenceMerger_KeepsTheLastChangePerUserInFirstSeenOrder()
    {
        var merger = new PresenceMerger();
        merger.Add(new PresenceDelta("n", 1, ["a", "b"], []));
        merger.Add(new PresenceDelta("n", 1, ["c"], ["a"]));
        merger.Add(new PresenceDelta("n", 1, [], ["d"]));
        merger.Add(new PresenceDelta("n", 1, ["d"], []));

        var merged = merger.Take();

        merged.Joined.ShouldBe(["b", "c", "d"]);
        merged.Left.ShouldBe(["a"]);
        merger.IsEmpty.ShouldBeTrue();
    }

    [Fact]
    public void PresenceMerger_NeverMergesSnapshotsOrOtherNodesOrEpochs()
    {
        var merger = new PresenceMerger();
        merger.Add(new PresenceDelta("n", 1, ["a"], []));

        merger.CanMerge(new PresenceDelta("n", 1, ["b"], [])).ShouldBeTrue();
        merger.CanMerge(new PresenceDelta("n", 2, ["b"], [])).ShouldBeFalse();
        merger.CanMerge(new PresenceDelta("m", 1, ["b"], [])).ShouldBeFalse();
        merger.CanMerge(new PresenceDelta("n", 1, ["b"], [], IsSnapshot: true)).ShouldBeFalse();
    }

    [Fact]
    public void PresenceBody_NamesItsNodeFirst_SoAReceiverCanSkipItsOwnSnapshotUndecoded()
    {
        var delta = new PresenceDelta("node-7", 3, [.. Enumerable.Range(0, 1000).Select(i => $"user-{i}")], ["gone"], IsSnapshot: true);
        var buffer = new ArrayBufferWriter<byte>();

        var body = ControlMessages.Encode(delta, buffer);

        body.ToArray().ShouldBe(ControlMessages.Encode(delta), "the reused buffer writes what the allocating encoder does");
        ControlMessages.PeekNodeId(body.Span).ShouldBe("node-7");
        var decoded = ControlMessages.Decode(body.Span, ControlJsonContext.Default.PresenceDelta);
        decoded.Joined.Count.ShouldBe(1000);
        ControlMessages.PeekNodeId("""{"epoch":1,"nodeId":"n"}"""u8).ShouldBeNull("not first: the body is decoded whole");
        ControlMessages.PeekNodeId("not json"u8).ShouldBeNull();
    }
}
