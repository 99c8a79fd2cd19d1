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
        : this(target, from, ServerFrames.MessagePrefix(from, target, rawData), originNodeId, NextId())
    {
    }

    /// <summary>A new message with the given <paramref name="id"/> (see <see cref="IdForKey"/>).</summary>
    public RoutedMessage(Target target, string from, ReadOnlySpan<byte> rawData, string? originNodeId, long id)
        : this(target, from, ServerFrames.MessagePrefix(from, target, rawData), originNodeId, id != 0 ? id : NextId())
    {
    }

    private RoutedMessage(Target target, string from, byte[] framePrefix, string? originNodeId, long id)
    {
        Target = target;
        From = from;
        FramePrefix = framePrefix;
        OriginNodeId = originNodeId;
        Id = id;
    }

    /// <summary>
    /// Rebuilds a message from a frame prefix made by <see cref="ServerFrames.MessagePrefix(string, string, ReadOnlySpan{byte})"/> (a backplane that
    /// serializes uses this). <paramref name="id"/> keeps the original message's <see cref="Id"/>; 0 makes a new one.
    /// </summary>
    public static RoutedMessage FromFramePrefix(Target target, string from, byte[] framePrefix, string? originNodeId, long id = 0) =>
        new(target, from, framePrefix, originNodeId, id == 0 ? NextId() : id);

    /// <summary>The same message (same <see cref="Id"/> and frame) for other recipients: a node forwarding a moved session's traffic uses this.</summary>
    public RoutedMessage WithTarget(Target target) => new(target, From, FramePrefix, OriginNodeId, Id);

    /// <summary>
    /// Identifies the message across hops, so a session that moved between nodes can drop a copy that reached it
    /// twice (replayed and live). Never 0; unique per process, and random-based so processes do not collide in practice.
    /// </summary>
    public long Id { get; }

    /// <summary>The recipients.</summary>
    public Target Target { get; }

    /// <summary>The sender.</summary>
    public string From { get; }

    /// <summary>The node that accepted the message, or null when it came from the gateway's publish API.</summary>
    public string? OriginNodeId { get; }

    /// <summary>The UTF-8 client frame up to, not including, <c>,"seq":N}</c>.</summary>
    public byte[] FramePrefix { get; }

    /// <summary>
    /// The id of a send with an idempotency key: the same on every node for the same sender and key, so a send carried
    /// out twice (a failover proxy sends again what a lost node had not answered) is one message wherever copies meet.
    /// </summary>
    /// <remarks>
    /// Always negative, where the ids nodes give (<see cref="NextId"/>, positive) never are, so no key can reach one of
    /// those; and a cryptographic hash of the sender with the key, so a sender cannot aim a key at another sender's keyed
    /// ids either: only its own sends with one key share an id.
    /// </remarks>
    public static long IdForKey(string from, string key)
    {
        // Every send of a client that retries sends has a key: hashed without garbage where it fits on the stack.
        var utf8 = System.Text.Encoding.UTF8;
        var length = utf8.GetByteCount(from) + 1 + utf8.GetByteCount(key);
        var rented = length > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(length) : null;
        var input = rented is null ? stackalloc byte[512] : rented;
        var written = utf8.GetBytes(from, input);
        input[written++] = (byte)'\n';
        written += utf8.GetBytes(key, input[written..]);
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(input[..written], hash);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
        return System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(hash) | long.MinValue;
    }

    // A random start per process: ids from different processes land in unrelated parts of the 64-bit space. Positive:
    // it starts below 2^62 and would take centuries of increments to reach 2^63.
    private static long s_lastId = System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue) * (long)uint.MaxValue;

    private static long NextId()
    {
        var id = Interlocked.Increment(ref s_lastId);
        return id != 0 ? id : Interlocked.Increment(ref s_lastId);
    }
}
