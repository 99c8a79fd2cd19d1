using System.Text;

namespace Switchboard.Proxy.Tunnel;

/// <summary>A client's HTTP/1.1 request head, as the tunnel relays it: the request line and every header in order.</summary>
/// <param name="Method">The method, e.g. <c>GET</c>.</param>
/// <param name="Target">The request target: path and query as the client sent them.</param>
/// <param name="Version">The HTTP version, e.g. <c>HTTP/1.1</c>.</param>
/// <param name="Headers">Every header field in arrival order, names as sent.</param>
internal sealed record UpgradeRequest(string Method, string Target, string Version, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>The first value of a header (case-insensitive name), or null.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>True when some comma-separated element of a header equals <paramref name="token"/> (case-insensitive), as for <c>Connection: keep-alive, Upgrade</c>.</summary>
    public bool HeaderHasToken(string name, string token)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                foreach (var element in value.Split(',', StringSplitOptions.TrimEntries))
                {
                    if (string.Equals(element, token, StringComparison.OrdinalIgnoreCase))
                    {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /// <summary>The path part of the target.</summary>
    public string Path => Target.IndexOf('?') is var q and >= 0 ? Target[..q] : Target;

    /// <summary>The query part of the target including its <c>?</c>, or empty.</summary>
    public string QueryString => Target.IndexOf('?') is var q and >= 0 ? Target[q..] : "";

    /// <summary>The first value of a query parameter, unescaped, or null.</summary>
    public string? QueryParameter(string name)
    {
        var query = QueryString.TrimStart('?');
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = eq >= 0 ? pair[..eq] : pair;
            if (Uri.UnescapeDataString(key) == name)
            {
                return eq >= 0 ? Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' ')) : "";
            }
        }
        return null;
    }

    /// <summary>The value of a cookie from the <c>Cookie</c> headers, or null.</summary>
    public string? Cookie(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (!string.Equals(key, "Cookie", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            foreach (var pair in value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                if (eq > 0 && pair.AsSpan(0, eq).Trim().SequenceEqual(name))
                {
                    return pair[(eq + 1)..].Trim().Trim('"');
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The head to send upstream: the request line with <paramref name="target"/>, every header but the
    /// <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> ones, which are replaced by the client's address appended to
    /// any earlier chain and the scheme it used.
    /// </summary>
    public byte[] ToUpstreamHead(string target, string? clientAddress, string forwardedProto)
    {
        var builder = new StringBuilder(256);
        builder.Append(Method).Append(' ').Append(target).Append(' ').Append(Version).Append("\r\n");
        string? forwardedFor = null;
        foreach (var (key, value) in Headers)
        {
            if (clientAddress is not null && string.Equals(key, "X-Forwarded-For", StringComparison.OrdinalIgnoreCase))
            {
                forwardedFor = forwardedFor is null ? value : forwardedFor + ", " + value;
                continue;
            }
            if (clientAddress is not null && string.Equals(key, "X-Forwarded-Proto", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            builder.Append(key).Append(": ").Append(value).Append("\r\n");
        }
        if (clientAddress is not null)
        {
            builder.Append("X-Forwarded-For: ").Append(forwardedFor is null ? clientAddress : forwardedFor + ", " + clientAddress).Append("\r\n");
            builder.Append("X-Forwarded-Proto: ").Append(forwardedProto).Append("\r\n");
        }
        builder.Append("\r\n");
        return Encoding.Latin1.GetBytes(builder.ToString());
    }
}
