using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Switchboard.Protocol;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// The body of one AMQP message carrying one or more routed frames for the same destination (coalescing).
/// Layout: a version byte, then per frame: target kind (1 byte), message id (8 bytes little-endian), target name,
/// from, origin node id (each a 2-byte little-endian length + UTF-8, origin empty for the gateway), frame prefix
/// (4-byte length + bytes).
/// </summary>
internal static class FrameBatch
{
    public const byte Version = 2;
    private const int MaxStringBytes = ushort.MaxValue;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Appends one frame; returns the bytes written.</summary>
    public static int Append(ArrayBufferWriter<byte> buffer, RoutedMessage message)
    {
        var before = buffer.WrittenCount;
        if (before == 0)
        {
            buffer.GetSpan(1)[0] = Version;
            buffer.Advance(1);
        }
        var kind = buffer.GetSpan(1);
        kind[0] = (byte)message.Target.Kind;
        buffer.Advance(1);
        BinaryPrimitives.WriteInt64LittleEndian(buffer.GetSpan(8), message.Id);
        buffer.Advance(8);
        WriteString(buffer, message.Target.Name);
        WriteString(buffer, message.From);
        WriteString(buffer, message.OriginNodeId ?? string.Empty);
        var length = buffer.GetSpan(4);
        BinaryPrimitives.WriteInt32LittleEndian(length, message.FramePrefix.Length);
        buffer.Advance(4);
        buffer.Write(message.FramePrefix);
        return buffer.WrittenCount - before;
    }

    /// <summary>Reads every frame of a batch; throws <see cref="FormatException"/> when the body is not a valid batch.</summary>
    public static List<RoutedMessage> Read(ReadOnlySpan<byte> body)
    {
        if (body.Length < 1 || body[0] != Version)
        {
            throw new FormatException(body.Length == 0 ? "empty batch" : $"unknown batch version {body[0]}");
        }
        var frames = new List<RoutedMessage>();
        var rest = body[1..];
        // A batch comes from one node, and often from one sender: a string the same as the last message's is not made again.
        var lastFrom = new LastString();
        var lastOrigin = new LastString();
        while (!rest.IsEmpty)
        {
            var kind = (TargetKind)rest[0];
            if (!Enum.IsDefined(kind))
            {
                throw new FormatException($"unknown target kind {(byte)kind}");
            }
            if (rest.Length < 9)
            {
                throw new FormatException("truncated message id");
            }
            var id = BinaryPrimitives.ReadInt64LittleEndian(rest[1..]);
            if (id == 0)
            {
                throw new FormatException("message id 0");
            }
            rest = rest[9..];
            var name = ReadString(ref rest, "target");
            var from = ReadString(ref rest, "from", ref lastFrom);
            var origin = ReadString(ref rest, "origin", ref lastOrigin);
            if (rest.Length < 4)
            {
                throw new FormatException("truncated frame prefix length");
            }
            var prefixLength = BinaryPrimitives.ReadInt32LittleEndian(rest);
            rest = rest[4..];
            if (prefixLength <= 0 || prefixLength > rest.Length)
            {
                throw new FormatException("bad frame prefix length");
            }
            if (kind != TargetKind.All && !Target.IsValidName(name, out var problem))
            {
                throw new FormatException($"bad target name: {problem}");
            }
            if (from.Length == 0)
            {
                throw new FormatException("empty sender");
            }
            var target = kind == TargetKind.All ? Target.All : new Target(kind, name);
            frames.Add(RoutedMessage.FromFramePrefix(target, from, rest[..prefixLength].ToArray(), origin.Length == 0 ? null : origin, id));
            rest = rest[prefixLength..];
        }
        return frames;
    }

    /// <summary>Counts the frames of a batch without materialising them (for returned, unroutable batches).</summary>
    public static int Count(ReadOnlySpan<byte> body)
    {
        try
        {
            return Read(body).Count;
        }
        catch (FormatException)
        {
            return 1;
        }
    }

    private static void WriteString(ArrayBufferWriter<byte> buffer, string value)
    {
        var byteCount = Encoding.UTF8.GetByteCount(value);
        if (byteCount > MaxStringBytes)
        {
            throw new ArgumentException($"'{value[..16]}…' is longer than {MaxStringBytes} bytes", nameof(value));
        }
        var span = buffer.GetSpan(2 + byteCount);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)byteCount);
        Encoding.UTF8.GetBytes(value, span[2..]);
        buffer.Advance(2 + byteCount);
    }

    private static string ReadString(ref ReadOnlySpan<byte> rest, string field, ref LastString last)
    {
        if (last.Value is not null && rest.Length >= 2 + last.Bytes.Length && BinaryPrimitives.ReadUInt16LittleEndian(rest) == last.Bytes.Length
            && rest.Slice(2, last.Bytes.Length).SequenceEqual(last.Bytes))
        {
            rest = rest[(2 + last.Bytes.Length)..];
            return last.Value;
        }
        var bytes = rest.Length >= 2 ? rest.Slice(2, Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(rest), rest.Length - 2)) : default;
        var value = ReadString(ref rest, field);
        last = new LastString { Bytes = bytes, Value = value };
        return value;
    }

    /// <summary>The string read last for a field, and the bytes it was read from.</summary>
    private ref struct LastString
    {
        public ReadOnlySpan<byte> Bytes;
        public string? Value;
    }

    private static string ReadString(ref ReadOnlySpan<byte> rest, string field)
    {
        if (rest.Length < 2)
        {
            throw new FormatException($"truncated {field}");
        }
        var length = BinaryPrimitives.ReadUInt16LittleEndian(rest);
        if (length > rest.Length - 2)
        {
            throw new FormatException($"truncated {field}");
        }
        string value;
        try
        {
            value = StrictUtf8.GetString(rest.Slice(2, length));
        }
        catch (DecoderFallbackException)
        {
            throw new FormatException($"{field} is not UTF-8");
        }
        rest = rest[(2 + length)..];
        return value;
    }
}
