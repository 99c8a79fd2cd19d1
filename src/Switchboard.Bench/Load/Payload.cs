using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Bench.Load;

/// <summary>
/// The bench's message: a <c>send</c> command whose <c>data</c> is <c>{"s":sender,"n":number,"t":timestamp}</c>
/// (with <c>"d":due</c> after <c>t</c> when the sender is paced), padded to the requested size. The receiver finds
/// the same object in the node's <c>message</c> frame (or, from the echo baseline, in its own command coming back),
/// which is all it needs for latency, loss and duplicates.
/// </summary>
internal static class Payload
{
    private static readonly byte[] SendStart = Encoding.UTF8.GetBytes($"{{\"{WireNames.Fields.Type}\":\"{WireNames.Types.Send}\",\"{WireNames.Fields.To}\":\"");
    private static readonly byte[] DataStart = Encoding.UTF8.GetBytes($"\",\"{WireNames.Fields.Data}\":{{\"s\":");
    // As UTF-8 once: comparing with a string transcodes it on every call, and the bench reads every delivery.
    private static readonly byte[] FieldCode = Encoding.UTF8.GetBytes(WireNames.Fields.Code);
    private static readonly byte[] FieldData = Encoding.UTF8.GetBytes(WireNames.Fields.Data);
    private static readonly byte[] FieldError = Encoding.UTF8.GetBytes(WireNames.Fields.Error);
    private static readonly byte[] FieldOk = Encoding.UTF8.GetBytes(WireNames.Fields.Ok);
    private static readonly byte[] FieldSeq = Encoding.UTF8.GetBytes(WireNames.Fields.Seq);
    private static readonly byte[] FieldType = Encoding.UTF8.GetBytes(WireNames.Fields.Type);
    private static readonly byte[] TypeError = Encoding.UTF8.GetBytes(WireNames.Types.Error);
    private static readonly byte[] TypeMessage = Encoding.UTF8.GetBytes(WireNames.Types.Message);
    private static readonly byte[] TypeReconnect = Encoding.UTF8.GetBytes(WireNames.Types.Reconnect);
    private static readonly byte[] TypeReply = Encoding.UTF8.GetBytes(WireNames.Types.Reply);
    private static readonly byte[] TypeSend = Encoding.UTF8.GetBytes(WireNames.Types.Send);
    private static readonly byte[] TypeWelcome = Encoding.UTF8.GetBytes(WireNames.Types.Welcome);

    /// <summary>The largest frame <see cref="Write"/> produces for a padding of <paramref name="padding"/> bytes.</summary>
    public static int MaxLength(string to, int padding) => SendStart.Length + Encoding.UTF8.GetByteCount(to) + DataStart.Length + 112 + padding;

    /// <summary>Writes one send command into <paramref name="destination"/> and returns its length.</summary>
    /// <param name="destination">Room for <see cref="MaxLength"/> bytes.</param>
    /// <param name="to">The target, as UTF-8.</param>
    /// <param name="sender">The sending client's index.</param>
    /// <param name="number">The message's number from that sender.</param>
    /// <param name="timestamp">When it is written (<see cref="System.Diagnostics.Stopwatch"/> ticks).</param>
    /// <param name="padding">Bytes of padding.</param>
    /// <param name="due">When a paced sender should have written it (ticks); 0 for a sender that is not paced.</param>
    public static int Write(Span<byte> destination, ReadOnlySpan<byte> to, int sender, long number, long timestamp, int padding, long due = 0)
    {
        var w = 0;
        Append(destination, ref w, SendStart);
        Append(destination, ref w, to);
        Append(destination, ref w, DataStart);
        Utf8Formatter.TryFormat(sender, destination[w..], out var n);
        w += n;
        Append(destination, ref w, ",\"n\":"u8);
        Utf8Formatter.TryFormat(number, destination[w..], out n);
        w += n;
        Append(destination, ref w, ",\"t\":"u8);
        Utf8Formatter.TryFormat(timestamp, destination[w..], out n);
        w += n;
        if (due != 0)
        {
            Append(destination, ref w, ",\"d\":"u8);
            Utf8Formatter.TryFormat(due, destination[w..], out n);
            w += n;
        }
        if (padding > 0)
        {
            Append(destination, ref w, ",\"p\":\""u8);
            destination.Slice(w, padding).Fill((byte)'x');
            w += padding;
            Append(destination, ref w, "\""u8);
        }
        Append(destination, ref w, "}}"u8);
        return w;
    }

    // A node's message frame: {"type":"message","from":…,"to":…,"data":<the sender's data>[,"mid":"M"],"seq":N}.
    private static readonly byte[] MessageStart = Encoding.UTF8.GetBytes($"{{\"{WireNames.Fields.Type}\":\"{WireNames.Types.Message}\",");
    private static readonly byte[] BenchDataStart = Encoding.UTF8.GetBytes($"\"{WireNames.Fields.Data}\":{{\"s\":");
    private static readonly byte[] SeqField = Encoding.UTF8.GetBytes($",\"{WireNames.Fields.Seq}\":");

    /// <summary>Reads what the bench needs from one server frame.</summary>
    /// <remarks>
    /// A node's message frame carrying bench data is read by position, without a JSON reader: the load generator reads
    /// every delivery, and walking each frame token by token was ~40 % of its CPU in a fanout. Any other frame, or one
    /// that does not have the expected shape, goes through the JSON reader.
    /// </remarks>
    public static Incoming Read(ReadOnlySpan<byte> frame) => TryReadBenchMessage(frame, out var incoming) ? incoming : ReadJson(frame);

    /// <summary>Reads a message frame by position; false when it is not exactly the shape the bench and the node write.</summary>
    internal static bool TryReadBenchMessage(ReadOnlySpan<byte> frame, out Incoming incoming)
    {
        incoming = default;
        if (!frame.StartsWith(MessageStart) || frame[^1] != (byte)'}')
        {
            return false;
        }
        var data = frame.IndexOf(BenchDataStart);
        var seqAt = frame.LastIndexOf(SeqField);
        if (data < 0 || seqAt < data)
        {
            return false;
        }
        var rest = frame[(data + BenchDataStart.Length)..];
        if (!Utf8Parser.TryParse(rest, out int sender, out var n) || !Skip(ref rest, n, ",\"n\":"u8)
            || !Utf8Parser.TryParse(rest, out long number, out n) || !Skip(ref rest, n, ",\"t\":"u8)
            || !Utf8Parser.TryParse(rest, out long timestamp, out n))
        {
            return false;
        }
        long due = 0;
        if (rest[n..].StartsWith(",\"d\":"u8) && (!Skip(ref rest, n, ",\"d\":"u8) || !Utf8Parser.TryParse(rest, out due, out n)))
        {
            return false;
        }
        if (rest.Length <= n || rest[n] is not ((byte)'}' or (byte)',')
            || !Utf8Parser.TryParse(frame[(seqAt + SeqField.Length)..], out long seq, out n) || seqAt + SeqField.Length + n != frame.Length - 1)
        {
            return false;
        }
        incoming = new Incoming { Type = FrameType.Message, HasBenchData = true, Sender = sender, Number = number, Timestamp = timestamp, Due = due, Seq = seq };
        return true;
    }

    private static bool Skip(ref ReadOnlySpan<byte> rest, int parsed, ReadOnlySpan<byte> separator)
    {
        rest = rest[parsed..];
        if (!rest.StartsWith(separator))
        {
            return false;
        }
        rest = rest[separator.Length..];
        return true;
    }

    /// <summary>Reads what the bench needs from one server frame with the JSON reader.</summary>
    internal static Incoming ReadJson(ReadOnlySpan<byte> frame)
    {
        var incoming = new Incoming();
        var reader = new Utf8JsonReader(frame);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return incoming;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals(FieldType))
                {
                    reader.Read();
                    incoming.Type = reader.TokenType == JsonTokenType.String ? TypeOf(ref reader) : FrameType.Other;
                }
                else if (reader.ValueTextEquals(FieldData))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadData(ref reader, ref incoming);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals(FieldSeq))
                {
                    reader.Read();
                    incoming.Seq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seq) ? seq : 0;
                }
                else if (reader.ValueTextEquals(FieldOk))
                {
                    reader.Read();
                    incoming.Ok = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals(FieldCode))
                {
                    reader.Read();
                    incoming.Code = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals(FieldError))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var isCode = reader.ValueTextEquals(FieldCode);
                            reader.Read();
                            if (isCode && reader.TokenType == JsonTokenType.String)
                            {
                                incoming.Code = reader.GetString();
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            incoming.Type = FrameType.Other;
        }
        return incoming;
    }

    private static void ReadData(ref Utf8JsonReader reader, ref Incoming incoming)
    {
        var fields = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.ValueSpan;
            reader.Read();
            if (name.Length == 1 && reader.TokenType == JsonTokenType.Number)
            {
                switch (name[0])
                {
                    case (byte)'s' when reader.TryGetInt32(out var s):
                        incoming.Sender = s;
                        fields |= 1;
                        continue;
                    case (byte)'n' when reader.TryGetInt64(out var n):
                        incoming.Number = n;
                        fields |= 2;
                        continue;
                    case (byte)'t' when reader.TryGetInt64(out var t):
                        incoming.Timestamp = t;
                        fields |= 4;
                        continue;
                    case (byte)'d' when reader.TryGetInt64(out var d):
                        incoming.Due = d;
                        continue;
                }
            }
            reader.Skip();
        }
        incoming.HasBenchData = fields == 7;
    }

    private static FrameType TypeOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals(TypeMessage) ? FrameType.Message
        : reader.ValueTextEquals(TypeSend) ? FrameType.Message // the echo baseline returns the command itself
        : reader.ValueTextEquals(TypeWelcome) ? FrameType.Welcome
        : reader.ValueTextEquals(TypeReply) ? FrameType.Reply
        : reader.ValueTextEquals(TypeError) ? FrameType.Error
        : reader.ValueTextEquals(TypeReconnect) ? FrameType.Reconnect
        : FrameType.Other;

    private static void Append(Span<byte> destination, ref int written, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(destination[written..]);
        written += bytes.Length;
    }
}

/// <summary>The kinds of server frame the bench tells apart.</summary>
internal enum FrameType
{
    Other,
    Welcome,
    Message,
    Reply,
    Error,
    Reconnect,
}

/// <summary>What the bench read from one server frame.</summary>
internal struct Incoming
{
    public FrameType Type;
    public bool HasBenchData;
    public int Sender;
    public long Number;
    public long Timestamp;

    /// <summary>When its paced sender should have written it; 0 when the sender was not paced.</summary>
    public long Due;
    public long Seq;
    public bool Ok;
    public string? Code;
}
