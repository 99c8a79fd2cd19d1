using System.Buffers.Text;
using System.Text.Json;
using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Policies;

/// <summary>
/// Routes a Switchboard client to the node its ticket names: reads the <c>token</c> query parameter, decodes the JWT
/// payload <b>without verifying it</b> (the node verifies; the proxy only routes) and picks the cluster backend whose
/// node id is the <c>node</c> claim. Without a token, with one that does not decode, or when that node takes no new
/// connections, <paramref name="fallback"/> picks — and a node other than the ticket's then refuses the ticket (1008).
/// </summary>
internal sealed class TicketPolicy(IBalancingPolicy fallback) : IBalancingPolicy
{
    /// <summary>The query parameter carrying the ticket, as nodes read it.</summary>
    public const string TokenParameter = "token";

    /// <summary>The ticket claim naming the node (the same name the issuer writes).</summary>
    public const string NodeClaim = "node";

    /// <summary>The ticket claim naming the user.</summary>
    public const string SubjectClaim = "sub";

    public string Name => BalancingPolicies.Ticket;

    public string? AffinityCookie => fallback.AffinityCookie;

    /// <summary>The policy used when the ticket names no available node.</summary>
    public IBalancingPolicy Fallback => fallback;

    public Backend? Pick(IReadOnlyList<Backend> candidates, BalancingContext context)
    {
        if (context.Request?.QueryParameter(TokenParameter) is { } token && ReadClaim(token, NodeClaim) is { } nodeId)
        {
            foreach (var backend in candidates)
            {
                if (backend.FromCluster && backend.Id == nodeId)
                {
                    return backend;
                }
            }
        }
        return fallback.Pick(candidates, context);
    }

    /// <summary>A string claim of a JWT's payload, unverified; null when the token is not a JWT or lacks the claim.</summary>
    public static string? ReadClaim(string token, string claim)
    {
        var first = token.IndexOf('.');
        var second = first < 0 ? -1 : token.IndexOf('.', first + 1);
        if (first <= 0 || second < 0 || second - first - 1 > 16 * 1024)
        {
            return null;
        }
        var segment = token.AsSpan(first + 1, second - first - 1);
        var bytes = new byte[Base64Url.GetMaxDecodedLength(segment.Length)];
        try
        {
            // TryDecode says false for a short buffer but throws on characters that are not base64url.
            if (!Base64Url.TryDecodeFromChars(segment, bytes, out var written))
            {
                return null;
            }
            var reader = new Utf8JsonReader(bytes.AsSpan(0, written));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isClaim = reader.ValueTextEquals(claim);
                if (!reader.Read())
                {
                    return null;
                }
                if (isClaim)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                reader.Skip();
            }
            return null;
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return null;
        }
    }
}
