using System.Text;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Backplane.Tests;

/// <summary>Messages that carry a label in their <c>data</c>, so a test can tell them apart after any backplane hop.</summary>
internal static class TestMessages
{
    public static RoutedMessage Create(string label, string? originNodeId, Target? target = null) =>
        new(target ?? new Target(TargetKind.User, "bob"), "user:alice", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(label)), originNodeId);

    public static RoutedMessage ToGroup(string group, string label, string? originNodeId) =>
        Create(label, originNodeId, new Target(TargetKind.Group, group));

    /// <summary>The label, read back from the client frame the message would become.</summary>
    public static string LabelOf(RoutedMessage message)
    {
        var frame = new byte[message.FramePrefix.Length + ServerFrames.MessageEndMaxLength];
        message.FramePrefix.CopyTo(frame, 0);
        var length = message.FramePrefix.Length + ServerFrames.WriteMessageEnd(frame.AsSpan(message.FramePrefix.Length), 0);
        using var document = JsonDocument.Parse(frame.AsMemory(0, length));
        return document.RootElement.GetProperty("data").GetString()!;
    }
}
