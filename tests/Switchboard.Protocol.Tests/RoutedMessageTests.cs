using System.Text;
using Switchboard.Protocol;

namespace Switchboard.Protocol.Tests;

public class RoutedMessageTests
{
    [Theory]
    [InlineData("user:bob")]
    [InlineData("conn:node-2.xyz")]
    [InlineData("group:room1")]
    [InlineData("all")]
    public void Constructor_BuildsPrefixForTargetAndFrom(string to)
    {
        Target.TryParse(to, out var target, out _).ShouldBeTrue();
        var data = """{"text":"hi"}"""u8.ToArray();

        var message = new RoutedMessage(target, "user:alice", data, "node-1");

        message.Target.ShouldBe(target);
        message.From.ShouldBe("user:alice");
        message.OriginNodeId.ShouldBe("node-1");
        message.FramePrefix.ShouldBe(ServerFrames.MessagePrefix("user:alice", to, data));
        Encoding.UTF8.GetString(message.FramePrefix)
            .ShouldBe("""{"type":"message","from":"user:alice","to":""" + "\"" + to + "\"" + ""","data":{"text":"hi"}""");
    }

    [Fact]
    public void IdForKey_IsTheSameForOneSenderAndKey_AndDiffersOtherwise()
    {
        var id = RoutedMessage.IdForKey("user:alice", "k1");

        id.ShouldBeLessThan(0, "keyed ids are negative, nodes' own ids positive: the two never meet");
        RoutedMessage.IdForKey("user:alice", "k1").ShouldBe(id);
        RoutedMessage.IdForKey("user:alice", "k2").ShouldNotBe(id);
        RoutedMessage.IdForKey("user:bob", "k1").ShouldNotBe(id, "another sender's key is its own");
        Target.TryParse("all", out var all, out _).ShouldBeTrue();
        new RoutedMessage(all, "user:alice", "1"u8, "node-1", id).Id.ShouldBe(id);
        new RoutedMessage(all, "user:alice", "1"u8, "node-1", 0).Id.ShouldBeGreaterThan(0, "0 asks for a new id, which is positive");
    }

    [Theory]
    [InlineData("user:alice", "k1")]
    [InlineData("user:älice", "ключ")]
    [InlineData("user:\uD800", "\uDC00k")] // lone surrogates on either side of the newline: each replaced, as before
    [InlineData(null, "k1")]
    public void IdForKey_IsTheLowBytesOfTheSha256OfSenderNewlineKey_WithTheSignBitSet(string? from, string key)
    {
        // Nodes of two versions in one cluster (a rolling deploy) must derive one id: this pins the derivation.
        from ??= "user:" + new string('x', 600);
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(from + "\n" + key));

        RoutedMessage.IdForKey(from, key).ShouldBe(System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(hash) | long.MinValue);
    }

    [Fact]
    public void IdForKey_AllocatesNothing()
    {
        RoutedMessage.IdForKey("user:alice", "warm-up");
        var before = GC.GetAllocatedBytesForCurrentThread();

        RoutedMessage.IdForKey("user:alice", "0123456789abcdef0123456789abcdef.42");

        (GC.GetAllocatedBytesForCurrentThread() - before).ShouldBe(0);
    }

    [Fact]
    public void IdForKey_IsTheSameOnEitherSideOfItsStackBuffer()
    {
        for (var length = 505; length <= 515; length++)
        {
            var from = "user:" + new string('é', (length - 8) / 2) + new string('x', (length - 8) % 2);
            var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(from + "\nk1"));
            RoutedMessage.IdForKey(from, "k1").ShouldBe(System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(hash) | long.MinValue, $"{length} bytes");
        }
    }

    [Fact]
    public void Constructor_FromGateway_HasNoOriginNode()
    {
        var message = new RoutedMessage(Target.All, WireNames.ApiSender, "1"u8, originNodeId: null);

        message.OriginNodeId.ShouldBeNull();
        message.From.ShouldBe("api");
        message.FramePrefix.ShouldBe(ServerFrames.MessagePrefix("api", "all", "1"u8));
    }

    [Fact]
    public void Constructor_CopiesData_SoTheReceiveBufferCanBeReused()
    {
        var buffer = "[1,2,3]"u8.ToArray();
        var message = new RoutedMessage(new Target(TargetKind.User, "bob"), "user:alice", buffer, "node-1");

        buffer.AsSpan().Fill((byte)'x');

        Encoding.UTF8.GetString(message.FramePrefix).ShouldEndWith("\"data\":[1,2,3]");
    }

    [Fact]
    public void FromFramePrefix_KeepsPrefixTargetFromAndOrigin()
    {
        var target = new Target(TargetKind.Group, "g");
        var prefix = ServerFrames.MessagePrefix("user:alice", "group:g", "null"u8);

        var message = RoutedMessage.FromFramePrefix(target, "user:alice", prefix, "node-3");

        message.FramePrefix.ShouldBeSameAs(prefix);
        message.Target.ShouldBe(target);
        message.From.ShouldBe("user:alice");
        message.OriginNodeId.ShouldBe("node-3");
    }
}
