using Switchboard.Gateway.Placement;
using Switchboard.Security.UserTokens;

namespace Switchboard.Gateway;

/// <summary>
/// Settings of a gateway (configuration section <c>Gateway</c>). Validated when the host starts; an invalid
/// setting stops the start with a message naming its key, e.g. <c>Gateway:ClusterSecret</c>.
/// </summary>
/// <remarks>
/// The load score that placement compares is
/// <c>score = ConnectionWeight × estimatedConnections / capacity + CpuWeight × cpu</c>, where
/// <c>estimatedConnections</c> is the node's last reported connection count plus the placements this gateway
/// made into it since (see <see cref="PendingPlacementTime"/>) and <c>cpu</c> is the node's CPU average (0–1).
/// Lower is better; an idle node scores 0, a full node at 100% CPU scores <c>ConnectionWeight + CpuWeight</c>.
/// </remarks>
public sealed class GatewayOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Gateway";

    /// <summary>The secret shared by gateways and nodes to sign tickets (HS256, at least 32 bytes). Required.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>
    /// Accept unsigned <c>{"userId":…}</c> bodies (and <c>?userId=</c> on GET) on <c>/v1/connect</c> when no
    /// <c>Authorization</c> header is sent. For local development only: anyone can claim any user id.
    /// </summary>
    public bool DevMode { get; set; }

    /// <summary>Keys accepted in the <c>X-Api-Key</c> header of <c>POST /v1/publish</c>. With none, publishing is refused.</summary>
    public string[] ApiKeys { get; set; } = [];

    /// <summary>Keys accepted in the <c>X-Admin-Key</c> header of the admin API (<c>/v1/admin/…</c>). With none, it is refused.</summary>
    public string[] AdminKeys { get; set; } = [];

    /// <summary>
    /// Keys accepted in the <c>X-Proxy-Key</c> header of <c>POST /v1/connect?session=…</c>: a failover proxy's credential
    /// (its <c>Proxy:GatewayKey</c>). A holder may ask for resume-only tickets of a named user and session, nothing else.
    /// With none, proxy keys are refused. Each at least <see cref="MinProxyKeyLength"/> characters.
    /// </summary>
    public string[] ProxyKeys { get; set; } = [];

    /// <summary>The shortest proxy key accepted in <see cref="ProxyKeys"/>.</summary>
    public const int MinProxyKeyLength = 16;

    /// <summary>How long the admin API waits for a node to answer a relayed request.</summary>
    public TimeSpan AdminRequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The rebalancer: moves connections off nodes well above the mean load (off by default).</summary>
    public Rebalance.RebalancerOptions Rebalance { get; set; } = new();

    /// <summary>The autoscaler: keeps the node count in line with the load through a provisioner (off by default).</summary>
    public Autoscale.AutoscaleOptions Autoscale { get; set; } = new();

    /// <summary>How user JWTs are checked: exactly one of an HS256 secret or an RS256 public key (optional in dev mode).</summary>
    public UserTokenOptions UserTokens { get; set; } = new();

    /// <summary>The placement policy, by name: one of <see cref="PlacementPolicies"/>.</summary>
    public string Placement { get; set; } = PlacementPolicies.LeastLoaded;

    /// <summary>How long a ticket stays valid.</summary>
    public TimeSpan TicketLifetime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a placement counts towards its node's estimated connections when the node's heartbeats do not show
    /// the connection arriving (a client that got a ticket and never dialled). Long enough for a dial and the next
    /// heartbeat or two: at least twice <see cref="HeartbeatInterval"/> and at most <see cref="TicketLifetime"/> is
    /// used. Tickets handed out and never used can hold a node's estimate at its capacity (<c>cluster_full</c>) for no
    /// longer than that.
    /// </summary>
    public TimeSpan PendingPlacementTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <see cref="PendingPlacementTime"/> as used: a placement must outlast the heartbeat that shows its connection
    /// (else every placement lapses first and the node looks emptier than it is), and a placement whose ticket has
    /// expired will never arrive.
    /// </summary>
    internal TimeSpan PendingPlacementTimeUsed
    {
        get
        {
            var pending = PendingPlacementTime > 2 * HeartbeatInterval ? PendingPlacementTime : 2 * HeartbeatInterval;
            return pending < TicketLifetime ? pending : TicketLifetime;
        }
    }

    /// <summary>Weight of the connection fill ratio (<c>estimatedConnections / capacity</c>) in the load score.</summary>
    public double ConnectionWeight { get; set; } = 0.7;

    /// <summary>Weight of the node's CPU average (0–1) in the load score.</summary>
    public double CpuWeight { get; set; } = 0.3;

    /// <summary>How often nodes send heartbeats; the gateway checks for silent nodes at this pace.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Heartbeat intervals without news after which a node is evicted: no longer placed on.</summary>
    public int MissedHeartbeatsBeforeEviction { get; set; } = 3;

    /// <summary>
    /// How long the users of a node evicted for silence stay routable for the publish API (to the node's queue), so
    /// that a node that was only paused gets what was published to them meanwhile. <see cref="TimeSpan.Zero"/> forgets
    /// them with the node.
    /// </summary>
    public TimeSpan SilentNodeUsersKeptFor { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest <c>POST /v1/publish</c> body accepted, in bytes; larger ones get 413.</summary>
    public int MaxPublishBytes { get; set; } = 1024 * 1024;
}
