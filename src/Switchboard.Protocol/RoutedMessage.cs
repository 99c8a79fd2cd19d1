namespace Switchboard.Protocol;

/// <summary>
/// A message on its way to its recipients, on this node or across the backplane. It is immutable, so one
/// instance can be delivered to many connections and nodes; <see cref="FramePrefix"/> is the client frame
/// without its per-session <c>seq</c>.
/// </summary>
public sealed class RoutedMessage
{
    /// <summary>Creates a message and builds its frame prefix.</summary>
    /// <param name="target">The recipients.</param>
    /// <param name="from">The sender as it appears in <c>from</c>: <c>user:&lt;id&gt;</c> or <c>api</c>.</param>
    /// <param name="rawData">The <c>data</c> JSON value, already validated.</param>
    /// <param name="originNodeId">The node that accepted it from its sender, or null for the gateway.</param>
    public RoutedMessage(Target target, string from, ReadOnlySpan<byte> rawData, string? originNodeId)
        : this(target, from, ServerFrames.MessagePrefix(from, target.ToString(), rawData), originNodeId, fromPrefix: true)
    {
    }

    private RoutedMessage(Target target, string from, byte[] framePrefix, string? originNodeId, bool fromPrefix)
    {
        _ = fromPrefix;
        Target = target;
        From = from;
        FramePrefix = framePrefix;
        OriginNodeId = originNodeId;
    }

    /// <summary>Rebuilds a message from a frame prefix made by <see cref="ServerFrames.MessagePrefix"/> (a backplane that serializes uses this).</summary>
    public static RoutedMessage FromFramePrefix(Target target, string from, byte[] framePrefix, string? originNodeId) =>
        new(target, from, framePrefix, originNodeId, fromPrefix: true);

    /// <summary>The recipients.</summary>
    public Target Target { get; }

    /// <summary>The sender.</summary>
    public string From { get; }

    /// <summary>The node that accepted the message, or null when it came from the gateway's publish API.</summary>
    public string? OriginNodeId { get; }

    /// <summary>The UTF-8 client frame up to, not including, <c>,"seq":N}</c>.</summary>
    public byte[] FramePrefix { get; }
}
