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
internal static class UpgradeRequestParser
{
    /// <summary>The largest request head accepted; browsers send well under 2 KB, a ticket included.</summary>
    public const int MaxHeadBytes = 8 * 1024;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

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
        string text;
        try
        {
            // Latin-1 is what HTTP header bytes are; a byte outside it cannot occur, and control characters are refused below.
            text = Encoding.Latin1.GetString(head);
        }
        catch (ArgumentException)
        {
            refusal = BadRequest("unreadable request head");
            return true;
        }
        (request, refusal) = Parse(text);
        return true;
    }

    private static (UpgradeRequest?, UpgradeRefusal?) Parse(string head)
    {
        var lines = head.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return (null, BadRequest("malformed request line"));
        }
        if (requestLine[2] != "HTTP/1.1")
        {
            return (null, new UpgradeRefusal(505, "http_version_not_supported", "WebSocket upgrades need HTTP/1.1"));
        }
        var (method, target) = (requestLine[0], requestLine[1]);
        var queryStart = target.IndexOf('?');
        var path = queryStart < 0 ? target : target[..queryStart];
        if (path != WireNames.WebSocketPath)
        {
            return (null, new UpgradeRefusal(404, "not_found", $"this port serves {WireNames.WebSocketPath} only"));
        }
        if (method != "GET")
        {
            return (null, new UpgradeRefusal(405, "method_not_allowed", "a WebSocket upgrade is a GET"));
        }
        string? upgrade = null, connection = null, key = null, version = null;
        var protocols = new List<string>();
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            var colon = line.IndexOf(':');
            if (colon <= 0 || line.AsSpan(0, colon).ContainsAny(' ', '\t') || line.Any(char.IsControl))
            {
                return (null, BadRequest("malformed header field"));
            }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = value;
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = connection is null ? value : connection + "," + value;
            }
            else if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))
            {
                key = value;
            }
            else if (name.Equals("Sec-WebSocket-Version", StringComparison.OrdinalIgnoreCase))
            {
                version = value;
            }
            else if (name.Equals("Sec-WebSocket-Protocol", StringComparison.OrdinalIgnoreCase))
            {
                protocols.AddRange(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            }
        }
        if (upgrade is null || !upgrade.Equals("websocket", StringComparison.OrdinalIgnoreCase)
            || connection is null || !connection.Split(',', StringSplitOptions.TrimEntries).Any(t => t.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)))
        {
            return (null, new UpgradeRefusal(400, "websocket_required", $"{WireNames.WebSocketPath} takes WebSocket upgrades only"));
        }
        if (version != "13")
        {
            return (null, new UpgradeRefusal(426, "unsupported_websocket_version", "this node speaks WebSocket version 13"));
        }
        if (key is null || !IsValidKey(key))
        {
            return (null, BadRequest("Sec-WebSocket-Key must be 16 bytes in base64"));
        }
        var offers = protocols.Contains(WireNames.Subprotocol);
        if (protocols.Count > 0 && !offers)
        {
            return (null, new UpgradeRefusal(400, "unsupported_subprotocol", $"this node speaks the subprotocol {WireNames.Subprotocol}"));
        }
        return (new UpgradeRequest(QueryValue(target, queryStart, WireNames.TokenQueryParameter), key, offers,
            QueryValue(target, queryStart, WireNames.MessageIdsQueryParameter) == "1",
            QueryValue(target, queryStart, WireNames.ConfirmSendsQueryParameter) == "1"), null);
    }

    private static string? QueryValue(string target, int queryStart, string parameter)
    {
        if (queryStart < 0)
        {
            return null;
        }
        foreach (var pair in target[(queryStart + 1)..].Split('&'))
        {
            var equals = pair.IndexOf('=');
            var name = equals < 0 ? pair : pair[..equals];
            if (name == parameter)
            {
                return equals < 0 ? string.Empty : Uri.UnescapeDataString(pair[(equals + 1)..].Replace('+', ' '));
            }
        }
        return null;
    }

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out var written) && written == 16;
    }

    private static UpgradeRefusal BadRequest(string message) => new(400, "bad_request", message);
}
