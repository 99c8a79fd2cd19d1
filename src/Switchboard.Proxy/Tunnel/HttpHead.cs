using System.Net.Sockets;
using System.Text;

namespace Switchboard.Proxy.Tunnel;

/// <summary>Why the proxy refuses a request, as the HTTP answer the client gets.</summary>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Reason">The reason phrase.</param>
/// <param name="Message">One line for the body, saying what was wrong.</param>
internal sealed record ProxyRefusal(int Status, string Reason, string Message)
{
    public static ProxyRefusal NotAnUpgrade(string why) => new(400, "Bad Request", $"not a WebSocket upgrade: {why}");

    public static ProxyRefusal Malformed(string why) => new(400, "Bad Request", $"malformed request: {why}");

    public static ProxyRefusal MethodNotAllowed(string method) => new(405, "Method Not Allowed", $"method {method} cannot open a WebSocket; use GET");

    public static ProxyRefusal HeadTooLarge(int limit) => new(431, "Request Header Fields Too Large", $"the request head exceeds {limit} bytes");

    public static readonly ProxyRefusal NoHealthyBackend = new(503, "Service Unavailable", "no healthy backend");

    public static readonly ProxyRefusal OverCapacity = new(503, "Service Unavailable", "the proxy is at its connection limit");

    public static ProxyRefusal LocalFailure(string why) => new(503, "Service Unavailable", $"the proxy cannot open a connection now: {why}");

    public static ProxyRefusal NoBackendReachable(string backends) => new(502, "Bad Gateway", $"no backend reachable (tried {backends})");

    public static readonly ProxyRefusal BadBackendResponse = new(502, "Bad Gateway", "the backend sent no valid HTTP response to the upgrade");

    public static readonly ProxyRefusal BackendTimeout = new(504, "Gateway Timeout", "the backend did not answer the upgrade in time");

    /// <summary>The whole answer: a short text body, and <c>Connection: close</c> since the socket closes after it.</summary>
    public byte[] ToResponse()
    {
        var body = Message + "\n";
        var allow = Status == 405 ? "Allow: GET\r\n" : "";
        return Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {Status} {Reason}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
    }
}

/// <summary>Reading and parsing HTTP/1.1 heads (RFC 9112): strict, since only WebSocket clients and servers are expected.</summary>
internal static class HttpHead
{
    /// <summary>
    /// Reads with <paramref name="receive"/> into <paramref name="buffer"/> until a head ends (<c>CRLF CRLF</c>).
    /// Returns the head's length, and every byte read (Received) (bytes past the head belong to
    /// the next layer); -1 when the buffer filled first; 0 when the peer closed before a whole head.
    /// </summary>
    public static async ValueTask<(int HeadLength, int Received)> ReadAsync(Func<Memory<byte>, CancellationToken, ValueTask<int>> receive, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var received = 0;
        while (received < buffer.Length)
        {
            var read = await receive(buffer[received..], cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return (0, received);
            }
            var searchFrom = Math.Max(0, received - 3);
            received += read;
            var end = buffer.Span[searchFrom..received].IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return (searchFrom + end + 4, received);
            }
        }
        return (-1, received);
    }

    /// <summary>Parses a request head (including its final empty line).</summary>
    public static UpgradeRequest? ParseRequest(ReadOnlySpan<byte> head, out ProxyRefusal? refusal)
    {
        refusal = null;
        var text = Encoding.Latin1.GetString(head);
        var lines = text.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0].Length == 0 || !requestLine[2].StartsWith("HTTP/", StringComparison.Ordinal) || requestLine[1].Length == 0)
        {
            refusal = ProxyRefusal.Malformed("bad request line");
            return null;
        }
        var headers = new List<KeyValuePair<string, string>>(16);
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0)
            {
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon <= 0 || line[0] is ' ' or '\t' || line.AsSpan(0, colon).ContainsAny(" \t") || ContainsControl(line))
            {
                refusal = ProxyRefusal.Malformed($"bad header line {i}");
                return null;
            }
            headers.Add(new(line[..colon], line[(colon + 1)..].Trim(' ', '\t')));
        }
        return new UpgradeRequest(requestLine[0], requestLine[1], requestLine[2], headers);
    }

    /// <summary>Checks that a parsed request is a WebSocket opening handshake; the refusal says what is missing.</summary>
    public static ProxyRefusal? CheckUpgrade(UpgradeRequest request)
    {
        if (request.Method != "GET")
        {
            return ProxyRefusal.MethodNotAllowed(request.Method);
        }
        if (request.Version != "HTTP/1.1")
        {
            return ProxyRefusal.NotAnUpgrade($"{request.Version} (a WebSocket upgrade is HTTP/1.1)");
        }
        if (!request.HeaderHasToken("Upgrade", "websocket"))
        {
            return ProxyRefusal.NotAnUpgrade("no 'Upgrade: websocket' header");
        }
        if (!request.HeaderHasToken("Connection", "upgrade"))
        {
            return ProxyRefusal.NotAnUpgrade("no 'Connection: Upgrade' header");
        }
        if (string.IsNullOrEmpty(request.Header("Sec-WebSocket-Key")))
        {
            return ProxyRefusal.NotAnUpgrade("no Sec-WebSocket-Key header");
        }
        return null;
    }

    /// <summary>The status code of a response head, or -1 when its status line is not HTTP.</summary>
    public static int ParseStatus(ReadOnlySpan<byte> head)
    {
        // "HTTP/1.1 101 Switching Protocols"
        if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || head[8] != (byte)' ')
        {
            return -1;
        }
        var code = head.Slice(9, 3);
        var status = 0;
        foreach (var digit in code)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return -1;
            }
            status = status * 10 + (digit - '0');
        }
        return status;
    }

    private static bool ContainsControl(string line)
    {
        foreach (var c in line)
        {
            if (c < 0x20 && c != '\t' || c == 0x7f)
            {
                return true;
            }
        }
        return false;
    }
}
