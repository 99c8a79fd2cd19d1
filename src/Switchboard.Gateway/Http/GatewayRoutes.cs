namespace Switchboard.Gateway.Http;

/// <summary>The gateway's HTTP paths, headers and query parameters, defined once.</summary>
public static class GatewayRoutes
{
    /// <summary><c>POST</c> or <c>GET</c>: place a user on a node and get a ticket.</summary>
    public const string Connect = "/v1/connect";

    /// <summary><c>POST</c>: send a message to users, connections, groups or everyone (API key required).</summary>
    public const string Publish = "/v1/publish";

    /// <summary><c>GET</c>: the live nodes as this gateway sees them.</summary>
    public const string Nodes = "/v1/nodes";

    /// <summary><c>GET</c>: liveness.</summary>
    public const string Health = "/healthz";

    /// <summary><c>GET</c>: readiness (observing the backplane).</summary>
    public const string Ready = "/readyz";

    /// <summary><c>POST</c>: drain a node, or move some of its connections (admin key required).</summary>
    public const string DrainNode = "/v1/admin/nodes/{id}/drain";

    /// <summary><c>GET</c>: the autoscaler's view and recent decisions (admin key required).</summary>
    public const string Autoscale = "/v1/autoscale";

    /// <summary><c>GET</c>: the rebalancer's settings and recent moves (admin key required).</summary>
    public const string Rebalance = "/v1/rebalance";

    /// <summary>The header that carries an admin key (<c>Gateway:AdminKeys</c>).</summary>
    public const string AdminKeyHeader = "X-Admin-Key";

    /// <summary>The header that carries a failover proxy's key (<c>Gateway:ProxyKeys</c>) on <c>POST /v1/connect?session=…</c>.</summary>
    public const string ProxyKeyHeader = "X-Proxy-Key";

    /// <summary>The header that carries the publish API key.</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The query parameter of <c>GET /v1/connect</c> that asks for a 307 to the node instead of JSON.</summary>
    public const string RedirectQueryParameter = "redirect";

    /// <summary>The dev-mode query parameter of <c>GET /v1/connect</c> that names the user.</summary>
    public const string UserIdQueryParameter = "userId";
}
