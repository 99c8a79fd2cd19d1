using System.Buffers;
using System.Text;
using Switchboard.Protocol;

namespace Switchboard.Node.DataPlane;

/// <summary>A WebSocket upgrade request as the data-plane listener reads it: only what the node needs.</summary>
/// <param name="Token">The <c>token</c> query parameter (the ticket), or null.</param>
/// <param name="Key">The <c>Sec-WebSocket-Key</c>.</param>
/// <param name="OffersSubprotocol">True when the client listed <see cref="WireNames.Subprotocol"/>.</param>
/// <param name="MessageIds">True when the query has <c>ids=1</c> (<see cref="WireNames.MessageIdsQueryParameter"/>).</param>
/// <param name="ConfirmSends">True when the query has <c>confirm=1</c> (<see cref="WireNames.ConfirmSendsQueryParameter"/>).</param>
internal sealed record UpgradeRequest(string? Token, string Key, bool OffersSubprotocol, bool MessageIds = false, bool ConfirmSends = false);

/// <summary>Why an upgrade request is refused, as an HTTP answer.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Code">The error code in the JSON body.</param>
/// <param name="Message">The human-readable explanation.</param>
internal sealed record UpgradeRefusal(int Status, string Code, string Message);

/// <summary>
/// Parses the head of an RFC 6455 opening handshake (RFC 9112 request line and header fields). Strict on purpose:
/// it accepts exactly what WebSocket clients send and refuses the rest with a precise answer.
/// </summary>
/// <remarks>
/// It reads the head's bytes where they lie and makes strings only of the ticket and the key: every connection is
/// parsed once, and the 7.5 KB of strings an earlier version split the head into made a node collect its young
/// generation that much more often while connections were opening.
/// </remarks>
internal static class UpgradeRequestParser
{
    /// <summary>The largest request head accepted; browsers send well under 2 KB, a ticket included.</summary>
    public const int MaxHeadBytes = 8 * 1024;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;
    private static ReadOnlySpan<byte> LineEnd => "\r\n"u8;
    private static readonly byte[] PathBytes = Encoding.ASCII.GetBytes(WireNames.WebSocketPath);
    private static readonly byte[] SubprotocolBytes = Encoding.ASCII.GetBytes(WireNames.Subprotocol);
    private static readonly byte[] TokenName = Encoding.ASCII.GetBytes(WireNames.TokenQueryParameter);
    private static readonly byte[] MessageIdsName = Encoding.ASCII.GetBytes(WireNames.MessageIdsQueryParameter);
    private static readonly byte[] ConfirmSendsName = Encoding.ASCII.GetBytes(WireNames.ConfirmSendsQueryParameter);

    /// <summary>
    /// Finds a complete head in <paramref name="buffer"/>. Returns false while more bytes are needed; otherwise
    /// <paramref name="consumed"/> is the position after the head and exactly one of the results is set.
    /// </summary>
    public static bool TryParse(ReadOnlySequence<byte> buffer, out SequencePosition consumed, out UpgradeRequest? request, out UpgradeRefusal? refusal)
    {
        request = null;
        refusal = null;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, EndOfHead, advancePastDelimiter: true))
        {
            consumed = buffer.Start;
            if (buffer.Length > MaxHeadBytes)
            {
                refusal = new UpgradeRefusal(431, "request_too_large", $"the request head exceeds {MaxHeadBytes} bytes");
                consumed = buffer.End;
                return true;
            }
            return false;
        }
        consumed = reader.Position;
        if (head.Length > MaxHeadBytes)
        {
            refusal = new UpgradeRefusal(431, "request_too_large", $"the request head exceeds {MaxHeadBytes} bytes");
            return true;
        }
        if (head.IsSingleSegment)
        {
            (request, refusal) = Parse(head.FirstSpan);
            return true;
        }
        var copy = ArrayPool<byte>.Shared.Rent((int)head.Length);
        try
        {
            head.CopyTo(copy);
            (request, refusal) = Parse(copy.AsSpan(0, (int)head.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
        return true;
    }

    private static (UpgradeRequest?, UpgradeRefusal?) Parse(ReadOnlySpan<byte> head)
    {
        var end = head.IndexOf(LineEnd);
        var requestLine = end < 0 ? head : head[..end];
        var fields = end < 0 ? [] : head[(end + LineEnd.Length)..];
        // Exactly three parts, split on single spaces.
        var (first, last) = (requestLine.IndexOf((byte)' '), requestLine.LastIndexOf((byte)' '));
        if (first < 0 || requestLine.Count((byte)' ') != 2 || !requestLine[(last + 1)..].StartsWith("HTTP/1."u8))
        {
            return (null, BadRequest("malformed request line"));
        }
        if (!requestLine[(last + 1)..].SequenceEqual("HTTP/1.1"u8))
        {
            return (null, new UpgradeRefusal(505, "http_version_not_supported", "WebSocket upgrades need HTTP/1.1"));
        }
        var method = requestLine[..first];
        var target = requestLine[(first + 1)..last];
        var queryStart = target.IndexOf((byte)'?');
        if (!(queryStart < 0 ? target : target[..queryStart]).SequenceEqual(PathBytes))
        {
            return (null, new UpgradeRefusal(404, "not_found", $"this port serves {WireNames.WebSocketPath} only"));
        }
        if (!method.SequenceEqual("GET"u8))
        {
            return (null, new UpgradeRefusal(405, "method_not_allowed", "a WebSocket upgrade is a GET"));
        }
        ReadOnlySpan<byte> upgrade = default, key = default, version = default;
        bool hasUpgrade = false, hasKey = false, hasVersion = false, connectionUpgrade = false, offers = false;
        var protocols = 0;
        while (!fields.IsEmpty)
        {
            end = fields.IndexOf(LineEnd);
            var line = end < 0 ? fields : fields[..end];
            fields = end < 0 ? [] : fields[(end + LineEnd.Length)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || line[..colon].Contains((byte)' ') || line.ContainsAnyInRange((byte)0x00, (byte)0x1F) || line.ContainsAnyInRange((byte)0x7F, (byte)0x9F))
            {
                return (null, BadRequest("malformed header field"));
            }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Upgrade"u8))
            {
                upgrade = value;
                hasUpgrade = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                connectionUpgrade |= AnyToken(value, static t => Ascii.EqualsIgnoreCase(t, "Upgrade"u8), out _);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Key"u8))
            {
                key = value;
                hasKey = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Version"u8))
            {
                version = value;
                hasVersion = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Protocol"u8))
            {
                offers |= AnyToken(value, static t => t.SequenceEqual(SubprotocolBytes), out var count);
                protocols += count;
            }
        }
        if (!hasUpgrade || !Ascii.EqualsIgnoreCase(upgrade, "websocket"u8) || !connectionUpgrade)
        {
            return (null, new UpgradeRefusal(400, "websocket_required", $"{WireNames.WebSocketPath} takes WebSocket upgrades only"));
        }
        if (!hasVersion || !version.SequenceEqual("13"u8))
        {
            return (null, new UpgradeRefusal(426, "unsupported_websocket_version", "this node speaks WebSocket version 13"));
        }
        var keyText = hasKey && key.Length == 24 ? Encoding.Latin1.GetString(key) : null;
        if (keyText is null || !IsValidKey(keyText))
        {
            return (null, BadRequest("Sec-WebSocket-Key must be 16 bytes in base64"));
        }
        if (protocols > 0 && !offers)
        {
            return (null, new UpgradeRefusal(400, "unsupported_subprotocol", $"this node speaks the subprotocol {WireNames.Subprotocol}"));
        }
        var query = queryStart < 0 ? [] : target[(queryStart + 1)..];
        return (new UpgradeRequest(QueryValue(query, TokenName), keyText, offers,
            IsOne(query, MessageIdsName), IsOne(query, ConfirmSendsName)), null);
    }

    private delegate bool TokenTest(ReadOnlySpan<byte> token);

    /// <summary>Whether any of a comma-separated list's non-empty tokens passes <paramref name="test"/>; <paramref name="count"/> counts them.</summary>
    private static bool AnyToken(ReadOnlySpan<byte> list, TokenTest test, out int count)
    {
        var any = false;
        count = 0;
        foreach (var range in list.Split((byte)','))
        {
            // The whitespace a split's TrimEntries would drop; control characters were refused before.
            var token = list[range].Trim(Whitespace);
            if (!token.IsEmpty)
            {
                count++;
                any |= test(token);
            }
        }
        return any;
    }

    private static ReadOnlySpan<byte> Whitespace => [(byte)' ', 0xA0];

    /// <summary>The first value of <paramref name="name"/> in the query, percent-decoded ('+' is a space); null when absent.</summary>
    private static string? QueryValue(ReadOnlySpan<byte> query, ReadOnlySpan<byte> name) =>
        FindQueryValue(query, name, out var value) ? Decode(value) : null;

    private static bool IsOne(ReadOnlySpan<byte> query, ReadOnlySpan<byte> name) =>
        FindQueryValue(query, name, out var value) && (value.SequenceEqual("1"u8) || (value.ContainsAny((byte)'%', (byte)'+') && Decode(value) == "1"));

    private static bool FindQueryValue(ReadOnlySpan<byte> query, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        if (!query.IsEmpty)
        {
            foreach (var range in query.Split((byte)'&'))
            {
                var pair = query[range];
                var equals = pair.IndexOf((byte)'=');
                if ((equals < 0 ? pair : pair[..equals]).SequenceEqual(name))
                {
                    value = equals < 0 ? [] : pair[(equals + 1)..];
                    return true;
                }
            }
        }
        value = default;
        return false;
    }

    private static string Decode(ReadOnlySpan<byte> value)
    {
        var text = Encoding.Latin1.GetString(value);
        return value.ContainsAny((byte)'%', (byte)'+') ? Uri.UnescapeDataString(text.Replace('+', ' ')) : text;
    }

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }

    private static UpgradeRefusal BadRequest(string message) => new(400, "bad_request", message);
}
