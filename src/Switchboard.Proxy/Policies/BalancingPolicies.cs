namespace Switchboard.Proxy.Policies;

/// <summary>The names of the built-in balancing policies, as configuration (<c>Proxy:Policy</c>, <c>--policy</c>) spells them.</summary>
public static class BalancingPolicies
{
    /// <summary>Each backend in turn, weighted (smooth weighted round-robin).</summary>
    public const string RoundRobin = "round-robin";

    /// <summary>The backend with the fewest connections from this proxy, relative to its weight.</summary>
    public const string LeastConnections = "least-connections";

    /// <summary>The least-loaded node by its heartbeats plus what this proxy placed since; least-connections for static backends.</summary>
    public const string LeastLoaded = "least-loaded";

    /// <summary>Two random backends, the one with fewer connections.</summary>
    public const string PowerOfTwoChoices = "power-of-two-choices";

    /// <summary>A random backend, weighted.</summary>
    public const string Random = "random";

    /// <summary>Rendezvous hash of the client's IP (or IP:port, see <c>Proxy:HashOn</c>).</summary>
    public const string SourceHash = "source-hash";

    /// <summary>Rendezvous hash of a header, query parameter or cookie (<c>Proxy:HashOn</c>): adding a backend moves only its share.</summary>
    public const string ConsistentHash = "consistent-hash";

    /// <summary>The proxy sets a cookie naming the backend on the 101 response and honours it on later requests; otherwise least-connections.</summary>
    public const string Cookie = "cookie";

    /// <summary>
    /// The node named in the client's Switchboard ticket (the <c>token</c> query parameter, read without verifying it);
    /// otherwise the fallback policy (<c>Proxy:TicketFallback</c>, least-loaded). The default for cluster backends.
    /// </summary>
    public const string Ticket = "ticket";

    /// <summary>Every built-in name.</summary>
    public static IReadOnlyList<string> All { get; } =
        [RoundRobin, LeastConnections, LeastLoaded, PowerOfTwoChoices, Random, SourceHash, ConsistentHash, Cookie, Ticket];

    internal static IBalancingPolicy Create(string name, HashKey hashKey, string cookieName, System.Random? random = null, string ticketFallback = LeastLoaded)
    {
        if (name == Ticket)
        {
            if (ticketFallback == Ticket)
            {
                throw new ArgumentException("the ticket policy cannot fall back to itself.");
            }
            return new TicketPolicy(Create(ticketFallback, hashKey, cookieName, random));
        }
        var lockedRandom = new LockedRandom(random ?? System.Random.Shared);
        return name switch
        {
            RoundRobin => new RoundRobinPolicy(),
            LeastConnections => new LeastConnectionsPolicy(lockedRandom),
            LeastLoaded => new LeastLoadedPolicy(lockedRandom),
            PowerOfTwoChoices => new PowerOfTwoChoicesPolicy(lockedRandom),
            Random => new RandomPolicy(lockedRandom),
            SourceHash => new SourceHashPolicy(hashKey.Kind is HashKeyKind.Ip or HashKeyKind.IpAndPort ? hashKey : HashKey.Ip),
            ConsistentHash => new ConsistentHashPolicy(hashKey),
            Cookie => new CookieStickinessPolicy(cookieName, new LeastConnectionsPolicy(lockedRandom)),
            _ => throw new ArgumentException($"'{name}' is not a balancing policy; valid names: {string.Join(", ", All)}."),
        };
    }
}
