using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Switchboard.Bench.Load;

/// <summary>
/// Encodes a client's text frame (RFC 6455 §5.2: FIN, opcode 1, masked) for the bench's own sends. .NET's WebSocket
/// draws every frame's masking key from the operating system's cryptographic generator (OpenSSL here), which cost the
/// load generator ~12 % of its CPU in a flat-out <c>direct</c> run; the bench's key comes from <see cref="Random.Shared"/>.
/// A masking key only has to be unpredictable to intermediaries on the path (§10.3), and the bench has none.
/// </summary>
internal static class MaskedFrame
{
    private const byte FinText = 0x81;
    private const byte MaskBit = 0x80;
    private const int MaskLength = 4;

    /// <summary>The encoded size of a frame that carries <paramref name="payloadLength"/> bytes.</summary>
    public static int Length(int payloadLength) => HeaderLength(payloadLength) + payloadLength;

    /// <summary>Writes the frame for <paramref name="payload"/>, masked with <paramref name="maskKey"/>; returns its length.</summary>
    public static int Encode(Span<byte> destination, ReadOnlySpan<byte> payload, uint maskKey)
    {
        var headerLength = HeaderLength(payload.Length);
        if (destination.Length < headerLength + payload.Length)
        {
            throw new ArgumentException("The destination is shorter than the frame.", nameof(destination));
        }
        destination[0] = FinText;
        switch (payload.Length)
        {
            case < 126:
                destination[1] = (byte)(MaskBit | payload.Length);
                break;
            case <= ushort.MaxValue:
                destination[1] = MaskBit | 126;
                BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payload.Length);
                break;
            default:
                destination[1] = MaskBit | 127;
                BinaryPrimitives.WriteUInt64BigEndian(destination[2..], (ulong)payload.Length);
                break;
        }
        var key = destination.Slice(headerLength - MaskLength, MaskLength);
        MemoryMarshal.Write(key, in maskKey);
        Mask(payload, key, destination.Slice(headerLength, payload.Length));
        return headerLength + payload.Length;
    }

    private static int HeaderLength(int payloadLength) => payloadLength switch
    {
        < 126 => 2 + MaskLength,
        <= ushort.MaxValue => 4 + MaskLength,
        _ => 10 + MaskLength,
    };

    private static void Mask(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> key, Span<byte> destination)
    {
        // The key repeats every 4 bytes, so eight bytes at a time take it twice, in the same memory order as the bytes.
        var key32 = MemoryMarshal.Read<uint>(key);
        var key64 = ((ulong)key32 << 32) | key32;
        var i = 0;
        for (; i + sizeof(ulong) <= payload.Length; i += sizeof(ulong))
        {
            var word = MemoryMarshal.Read<ulong>(payload[i..]) ^ key64;
            MemoryMarshal.Write(destination[i..], in word);
        }
        for (; i < payload.Length; i++)
        {
            destination[i] = (byte)(payload[i] ^ key[i & 3]);
        }
    }
}
