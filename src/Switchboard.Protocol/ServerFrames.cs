using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Switchboard.Protocol;

/// <summary>Writes the node-to-client frames of protocol v1 as UTF-8 JSON, <c>type</c> first.</summary>
public static class ServerFrames
{
    // Frames go to WebSocket clients, never into HTML, so quotes and apostrophes need no escaping.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static void WriteWelcomeHead(Utf8JsonWriter w, string connectionId, string userId, string nodeId, string session, bool resumed)
    {
        w.WriteString(WireNames.Fields.Type, WireNames.Types.Welcome);
        w.WriteString(WireNames.Fields.ConnectionId, connectionId);
        w.WriteString(WireNames.Fields.UserId, userId);
        w.WriteString(WireNames.Fields.Node, nodeId);
        w.WriteString(WireNames.Fields.Session, session);
        w.WriteBoolean(WireNames.Fields.Resumed, resumed);
    }

    /// <summary>The <c>welcome</c> frame sent once a connection is accepted.</summary>
    public static byte[] Welcome(string connectionId, string userId, string nodeId, string session, bool resumed) =>
        Write(w => WriteWelcomeHead(w, connectionId, userId, nodeId, session, resumed));

    /// <summary>
    /// The <c>welcome</c> that answers a <c>resume</c>: <c>resumed</c> is true when every missed message follows;
    /// otherwise <c>missedFrom</c>..<c>missedTo</c> is the range of seqs that no longer exist (the rest follow).
    /// </summary>
    public static byte[] ResumedWelcome(string connectionId, string userId, string nodeId, string session, int replayed, long? missedFrom, long? missedTo) =>
        Write(w =>
        {
            WriteWelcomeHead(w, connectionId, userId, nodeId, session, resumed: missedFrom is null);
            w.WriteNumber(WireNames.Fields.Replayed, replayed);
            if (missedFrom is { } from)
            {
                w.WriteNumber(WireNames.Fields.MissedFrom, from);
                w.WriteNumber(WireNames.Fields.MissedTo, missedTo ?? from);
            }
        });

    /// <summary>A <c>reconnect</c> frame: the client should reconnect through the gateway and resume its session.</summary>
    public static byte[] Reconnect(string reason) =>
        Write(w =>
        {
            w.WriteString(WireNames.Fields.Type, WireNames.Types.Reconnect);
            w.WriteString(WireNames.Fields.Reason, reason);
        });

    /// <summary>A successful <c>reply</c>.</summary>
    public static byte[] ReplyOk(string id) =>
        Write(w =>
        {
            w.WriteString(WireNames.Fields.Type, WireNames.Types.Reply);
            w.WriteString(WireNames.Fields.Id, id);
            w.WriteBoolean(WireNames.Fields.Ok, true);
        });

    /// <summary>A failed <c>reply</c>.</summary>
    public static byte[] ReplyError(string id, ProtocolError error) =>
        Write(w =>
        {
            w.WriteString(WireNames.Fields.Type, WireNames.Types.Reply);
            w.WriteString(WireNames.Fields.Id, id);
            w.WriteBoolean(WireNames.Fields.Ok, false);
            w.WriteStartObject(WireNames.Fields.Error);
            w.WriteString(WireNames.Fields.Code, error.Code);
            w.WriteString(WireNames.Fields.Message, error.Message);
            w.WriteEndObject();
        });

    /// <summary>An <c>error</c> frame, for input that cannot be tied to a command id.</summary>
    public static byte[] Error(ProtocolError error) =>
        Write(w =>
        {
            w.WriteString(WireNames.Fields.Type, WireNames.Types.Error);
            w.WriteString(WireNames.Fields.Code, error.Code);
            w.WriteString(WireNames.Fields.Message, error.Message);
        });

    /// <summary>The answer to a rejected frame: a failed <c>reply</c> when it had an id, else an <c>error</c>.</summary>
    public static byte[] Rejection(string? id, ProtocolError error) => id is null ? Error(error) : ReplyError(id, error);

    /// <summary>
    /// The part of a <c>message</c> frame shared by all its recipients: everything but the per-session
    /// <c>seq</c>, which <see cref="WriteMessageEnd"/> appends. Built once per message, not per recipient.
    /// </summary>
    public static byte[] MessagePrefix(string from, string to, ReadOnlySpan<byte> rawData) =>
        MessagePrefix(from, to.AsSpan(), default, rawData);

    /// <summary>The same as <see cref="MessagePrefix(string, string, ReadOnlySpan{byte})"/>, with <c>to</c> written from a <see cref="Target"/>.</summary>
    public static byte[] MessagePrefix(string from, Target to, ReadOnlySpan<byte> rawData) =>
        MessagePrefix(from, to.Prefix, to.Kind == TargetKind.All ? default : to.Name, rawData);

    // One writer per thread, reused: a message's prefix is built on every send, and a new buffer and JSON writer for
    // each were most of what a node allocated per message. Nothing in here awaits, so a thread never nests two uses.
    [ThreadStatic]
    private static PrefixWriter? t_prefixWriter;

    private static byte[] MessagePrefix(string from, ReadOnlySpan<char> toPrefix, ReadOnlySpan<char> toName, ReadOnlySpan<byte> rawData)
    {
        var writer = t_prefixWriter ??= new PrefixWriter();
        var (buffer, w) = writer.Start();
        try
        {
            w.WriteStartObject();
            w.WriteString(WireNames.Fields.Type, WireNames.Types.Message);
            w.WriteString(WireNames.Fields.From, from);
            var toLength = toPrefix.Length + toName.Length;
            var to = toLength <= 256 ? stackalloc char[toLength] : new char[toLength];
            toPrefix.CopyTo(to);
            toName.CopyTo(to[toPrefix.Length..]);
            w.WriteString(WireNames.Fields.To, to);
            w.WritePropertyName(WireNames.Fields.Data);
            // Already validated by the parser (or the gateway); written as the sender wrote it.
            w.WriteRawValue(rawData, skipInputValidation: true);
            w.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            writer.Finish();
        }
    }

    /// <summary>A buffer and a JSON writer over it, kept by a thread; a buffer grown past 64 KB is not kept.</summary>
    private sealed class PrefixWriter
    {
        private const int KeptCapacity = 64 * 1024;

        private ArrayBufferWriter<byte> _buffer;
        private readonly Utf8JsonWriter _json;

        public PrefixWriter()
        {
            _buffer = new ArrayBufferWriter<byte>(1024);
            _json = new Utf8JsonWriter(_buffer, WriterOptions with { SkipValidation = true });
        }

        public (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Json) Start()
        {
            _buffer.ResetWrittenCount();
            _json.Reset();
            return (_buffer, _json);
        }

        public void Finish()
        {
            if (_buffer.Capacity > KeptCapacity)
            {
                _buffer = new ArrayBufferWriter<byte>(1024);
                _json.Reset(_buffer);
            }
        }
    }

    /// <summary>The most bytes <see cref="WriteMessageEnd"/> writes.</summary>
    public const int MessageEndMaxLength = 64;

    private static ReadOnlySpan<byte> SeqField => ",\"seq\":"u8;

    private static ReadOnlySpan<byte> MessageIdField => ",\"mid\":\""u8;

    /// <summary>
    /// Writes <c>,"seq":N}</c> (with a <paramref name="messageId"/>, <c>,"mid":"M","seq":N}</c>), which completes a frame
    /// started by <see cref="MessagePrefix(string, string, ReadOnlySpan{byte})"/>; returns the bytes written.
    /// </summary>
    public static int WriteMessageEnd(Span<byte> destination, long seq, long? messageId = null)
    {
        var written = 0;
        if (messageId is { } mid)
        {
            // A string: JavaScript numbers lose 64-bit integers.
            MessageIdField.CopyTo(destination);
            written = MessageIdField.Length;
            mid.TryFormat(destination[written..], out var idDigits, provider: System.Globalization.CultureInfo.InvariantCulture);
            written += idDigits;
            destination[written++] = (byte)'"';
        }
        SeqField.CopyTo(destination[written..]);
        written += SeqField.Length;
        seq.TryFormat(destination[written..], out var digits, provider: System.Globalization.CultureInfo.InvariantCulture);
        written += digits;
        destination[written++] = (byte)'}';
        return written;
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
