using System.Net;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.SourcePool;

namespace Switchboard.Proxy.Hosting;

/// <summary>
/// <see cref="ProxyOptions"/> checked and resolved: parsed backends, the policy instance, the source pool. Immutable;
/// a reload swaps the whole object, so a connection sees one consistent configuration.
/// </summary>
internal sealed record ProxySettings(
    ProxyOptions Options,
    IPEndPoint Listen,
    IPEndPoint? Admin,
    IReadOnlyList<BackendAddress> Backends,
    IBalancingPolicy Policy,
    SourceAddressPool? SourcePool,
    bool ClusterBackends,
    Uri? Gateway = null)
{
    /// <summary>Open client connections at most: <c>Proxy:MaxConnections</c>, or as many as the descriptor budget holds.</summary>
    public int MaxConnections => Options.MaxConnections ?? ProxyOptions.FileDescriptorBudget / SocketsPerConnection(Options);

    /// <summary>The sockets one client connection holds: client and backend, and in failover mode with a standby, the standby's.</summary>
    public static int SocketsPerConnection(ProxyOptions options) => options.Mode == ProxyModes.Failover && options.Standby ? 3 : 2;

    /// <summary>Validates and resolves; the exception names the key that is wrong.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <param name="options">The options.</param>
    /// <param name="random">Randomness for the random policies.</param>
    /// <param name="clusterBackends">Backends come from the cluster's heartbeats too (the default policy is then <c>ticket</c>).</param>
    public static ProxySettings Resolve(ProxyOptions options, Random? random = null, bool clusterBackends = false)
    {
        if (options.Mode is not (ProxyModes.Tunnel or ProxyModes.Tcp or ProxyModes.Failover))
        {
            throw new ArgumentException($"Proxy:Mode is '{options.Mode}'; valid modes: tunnel, tcp, failover.");
        }
        Uri? gateway = null;
        if (options.Mode == ProxyModes.Failover)
        {
            if (string.IsNullOrWhiteSpace(options.Gateway) || !Uri.TryCreate(options.Gateway, UriKind.Absolute, out gateway) || gateway.Scheme is not ("http" or "https"))
            {
                throw new ArgumentException($"Proxy:Gateway (--gateway) must be the gateway's http(s) URL in failover mode, where the proxy asks for resume tickets (is '{options.Gateway}').");
            }
            if (options.GatewayKey is { } key && (string.IsNullOrWhiteSpace(key) || key.Trim().Length < ProxyOptions.MinGatewayKeyLength))
            {
                throw new ArgumentException($"Proxy:GatewayKey (--gateway-key) must be one of the gateway's Gateway:ProxyKeys, at least {ProxyOptions.MinGatewayKeyLength} characters (is {(string.IsNullOrWhiteSpace(key) ? "empty" : $"{key.Trim().Length} characters")}); leave it unset only for a dev-mode gateway.");
            }
            AtLeast(options.FailoverQueueFrames, 1, "Proxy:FailoverQueueFrames");
            AtLeast(options.SendQueueFrames, 1, "Proxy:SendQueueFrames");
            if (options.SendQueueBytes < 1)
            {
                throw new ArgumentException($"Proxy:SendQueueBytes must be at least 1 (is {options.SendQueueBytes}).");
            }
            if (options.NodeKeepAliveInterval < TimeSpan.Zero || options.NodeKeepAliveTimeout < TimeSpan.Zero)
            {
                throw new ArgumentException($"Proxy:NodeKeepAliveInterval and Proxy:NodeKeepAliveTimeout must not be negative (are {options.NodeKeepAliveInterval} and {options.NodeKeepAliveTimeout}); zero turns them off.");
            }
            Positive(options.FailoverTimeout, "Proxy:FailoverTimeout");
            if (options.StandbySpread < TimeSpan.Zero)
            {
                throw new ArgumentException($"Proxy:StandbySpread must not be negative (is {options.StandbySpread}).");
            }
        }
        var listen = ParseEndPoint(options.Listen, "Proxy:Listen (--listen)");
        var admin = string.IsNullOrWhiteSpace(options.Admin) ? null : ParseEndPoint(options.Admin, "Proxy:Admin (--admin)");
        var backends = new List<BackendAddress>();
        foreach (var text in options.Backends)
        {
            try
            {
                backends.Add(BackendAddress.Parse(text));
            }
            catch (FormatException e)
            {
                throw new ArgumentException($"Proxy:Backends (--backend): {e.Message}", e);
            }
        }
        var tcp = options.Mode == ProxyModes.Tcp;
        var policyName = string.IsNullOrWhiteSpace(options.Policy)
            ? (tcp ? BalancingPolicies.SourceHash : clusterBackends || options.Mode == ProxyModes.Failover ? BalancingPolicies.Ticket : BalancingPolicies.RoundRobin)
            : options.Policy;
        HashKey hashKey;
        try
        {
            hashKey = HashKey.Parse(string.IsNullOrWhiteSpace(options.HashOn) ? (tcp ? "ip:port" : "ip") : options.HashOn);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"Proxy:HashOn (--hash-on): {e.Message}", e);
        }
        if (policyName == BalancingPolicies.SourceHash && hashKey.Kind is not (HashKeyKind.Ip or HashKeyKind.IpAndPort))
        {
            throw new ArgumentException($"Proxy:HashOn is '{options.HashOn}', but source-hash hashes ip or ip:port; use consistent-hash for headers, query parameters and cookies.");
        }
        if (tcp && (policyName is BalancingPolicies.Cookie or BalancingPolicies.Ticket || policyName == BalancingPolicies.ConsistentHash && hashKey.Kind is not (HashKeyKind.Ip or HashKeyKind.IpAndPort)))
        {
            throw new ArgumentException($"Proxy:Policy '{policyName}' needs the HTTP request, which tcp mode does not read.");
        }
        if (string.IsNullOrWhiteSpace(options.StickyCookie) || options.StickyCookie.AsSpan().ContainsAny("=;, \t\""))
        {
            throw new ArgumentException($"Proxy:StickyCookie '{options.StickyCookie}' is not a cookie name.");
        }
        IBalancingPolicy policy;
        try
        {
            policy = BalancingPolicies.Create(policyName, hashKey, options.StickyCookie, random, options.TicketFallback);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Proxy:Policy (--policy): {e.Message}", e);
        }
        Positive(options.HandshakeTimeout, "Proxy:HandshakeTimeout");
        Positive(options.ConnectTimeout, "Proxy:ConnectTimeout");
        Positive(options.CloseGrace, "Proxy:CloseGrace");
        Positive(options.PassiveEjectionTime, "Proxy:PassiveEjectionTime");
        if (options.IdleTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"Proxy:IdleTimeout must not be negative (is {options.IdleTimeout}).");
        }
        if (options.RelayPriority is < 0 or > 99)
        {
            throw new ArgumentException($"Proxy:RelayPriority (--relay-priority) must be 0 (the normal scheduler) or a real-time priority from 1 to 99 (is {options.RelayPriority}).");
        }
        if (options.RelayPriority > 0 && options.Mode == ProxyModes.Failover)
        {
            throw new ArgumentException("Proxy:RelayPriority (--relay-priority) is for tunnel and tcp mode: failover mode terminates WebSocket on .NET's sockets and has no relay thread.");
        }
        if (options.RelayThreads is < 0 or > 256)
        {
            throw new ArgumentException($"Proxy:RelayThreads (--relay-threads) must be 0 (one per processor) or from 1 to 256 (is {options.RelayThreads}).");
        }
        if (options.RelayThreads != 0 && options.Mode == ProxyModes.Failover)
        {
            throw new ArgumentException("Proxy:RelayThreads (--relay-threads) is for tunnel and tcp mode: failover mode terminates WebSocket on .NET's sockets and has no relay threads.");
        }
        AtLeast(options.MaxHeadBytes, 1024, "Proxy:MaxHeadBytes");
        if (options.MaxConnections is { } maxConnections)
        {
            AtLeast(maxConnections, 1, "Proxy:MaxConnections");
        }
        AtLeast(options.MaxDialAttempts, 1, "Proxy:MaxDialAttempts");
        AtLeast(options.PassiveFall, 1, "Proxy:PassiveFall");
        AtLeast(options.HealthCheck.Rise, 1, "Proxy:HealthCheck:Rise");
        AtLeast(options.HealthCheck.Fall, 1, "Proxy:HealthCheck:Fall");
        Positive(options.HealthCheck.Interval, "Proxy:HealthCheck:Interval");
        Positive(options.HealthCheck.Timeout, "Proxy:HealthCheck:Timeout");
        if (options.AcceptRatePerSecond < 0)
        {
            throw new ArgumentException($"Proxy:AcceptRatePerSecond must not be negative (is {options.AcceptRatePerSecond}).");
        }
        if (!string.IsNullOrEmpty(options.HealthCheck.Path) && !options.HealthCheck.Path.StartsWith('/'))
        {
            throw new ArgumentException($"Proxy:HealthCheck:Path must start with / (is '{options.HealthCheck.Path}').");
        }
        SourceAddressPool? pool;
        try
        {
            pool = SourceAddressPool.Parse(options.SourceAddresses);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"Proxy:SourceAddresses (--source): {e.Message}", e);
        }
        return new ProxySettings(options, listen, admin, backends, policy, pool, clusterBackends, gateway);
    }

    /// <summary>Parses <c>IP:PORT</c> (<c>[v6]:PORT</c> for IPv6).</summary>
    public static IPEndPoint ParseEndPoint(string text, string key) =>
        IPEndPoint.TryParse(text, out var endPoint) && text.Contains(':') && endPoint.Port is >= 0 and <= 65535
            ? endPoint
            : throw new ArgumentException($"{key} must be IP:PORT, e.g. 127.0.0.1:8080 (is '{text}').");

    private static void Positive(TimeSpan value, string key)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{key} must be positive (is {value}).");
        }
    }

    private static void AtLeast(int value, int minimum, string key)
    {
        if (value < minimum)
        {
            throw new ArgumentException($"{key} must be at least {minimum} (is {value}).");
        }
    }
}
