using System.Text;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Policies;

/// <summary>What a hashing policy hashes.</summary>
internal enum HashKeyKind { Ip, IpAndPort, Header, Query, Cookie }

/// <summary>
/// The key of <c>source-hash</c> and <c>consistent-hash</c>, written <c>ip</c>, <c>ip:port</c>, <c>header:NAME</c>,
/// <c>query:NAME</c> or <c>cookie:NAME</c>.
/// </summary>
internal sealed record HashKey(HashKeyKind Kind, string Name)
{
    public static readonly HashKey Ip = new(HashKeyKind.Ip, "");

    public static HashKey Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text == "ip")
        {
            return Ip;
        }
        if (text == "ip:port")
        {
            return new HashKey(HashKeyKind.IpAndPort, "");
        }
        var colon = text.IndexOf(':');
        if (colon > 0 && colon < text.Length - 1)
        {
            var name = text[(colon + 1)..];
            switch (text[..colon])
            {
                case "header": return new HashKey(HashKeyKind.Header, name);
                case "query": return new HashKey(HashKeyKind.Query, name);
                case "cookie": return new HashKey(HashKeyKind.Cookie, name);
            }
        }
        throw new FormatException($"Hash key '{text}' is not ip, ip:port, header:NAME, query:NAME or cookie:NAME.");
    }

    /// <summary>The value to hash; for a header, query or cookie missing from the request, the client's IP.</summary>
    public string ValueOf(BalancingContext context)
    {
        var value = Kind switch
        {
            HashKeyKind.Header => context.Request?.Header(Name),
            HashKeyKind.Query => context.Request?.QueryParameter(Name),
            HashKeyKind.Cookie => context.Request?.Cookie(Name),
            HashKeyKind.IpAndPort => context.Client.ToString(),
            _ => null,
        };
        return value ?? context.Client.Address.ToString();
    }

    public override string ToString() => Kind switch
    {
        HashKeyKind.Ip => "ip",
        HashKeyKind.IpAndPort => "ip:port",
        _ => $"{Kind.ToString().ToLowerInvariant()}:{Name}",
    };
}
