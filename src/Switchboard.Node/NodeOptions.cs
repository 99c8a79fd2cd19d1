namespace Switchboard.Node;

/// <summary>Settings of one node (configuration section <c>Node</c>). Every default is usable as is.</summary>
public sealed class NodeOptions
{
    /// <summary>The node's id, unique in the cluster. Must not be empty; connection ids start with it.</summary>
    public string NodeId { get; set; } = "node-1";

    /// <summary>
    /// The WebSocket URL clients are sent to (e.g. <c>wss://node-2.example.com/v1/ws</c>). When null, the node
    /// derives <c>ws://&lt;bound address&gt;/v1/ws</c> from the address it listens on.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>
    /// When set, the node also accepts WebSockets on this port with its lean data-plane listener (0: any free port),
    /// and advertises that port to clients unless <see cref="PublicUrl"/> says otherwise. An idle connection there costs
    /// a fraction of what it costs through the HTTP server, which keeps serving <c>/v1/ws</c>, health and the rest.
    /// </summary>
    public int? DataPlanePort { get; set; }

    /// <summary>The address the data-plane listener binds (with <see cref="DataPlanePort"/>).</summary>
    public string DataPlaneAddress { get; set; } = "127.0.0.1";

    /// <summary>The cluster secret that gateways sign tickets with (at least 32 bytes).</summary>
    public string ClusterSecret { get; set; } = string.Empty;

    /// <summary>The connection cap; a connection past it is closed with 1013.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>The largest client frame accepted; a larger one closes the connection with 1009.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Frames queued for one connection before it is closed as a slow consumer (3008).</summary>
    public int SendQueueCapacity { get; set; } = 1024;

    /// <summary>Commands a connection may send per second on average (0 turns the limit off).</summary>
    public double RateLimitPerSecond { get; set; } = 1000;

    /// <summary>Commands a connection may send in a burst above the average.</summary>
    public int RateLimitBurst { get; set; } = 2000;

    /// <summary>Rejected frames tolerated in a burst before the connection is closed with 3002; one more is forgiven per second.</summary>
    public int ProtocolErrorBudget { get; set; } = 10;

    /// <summary>Groups one connection may be in at once; a join past it is refused with <c>too_many_groups</c>.</summary>
    public int MaxGroupsPerConnection { get; set; } = 100;

    /// <summary>How often the node sends its heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Every this many heartbeats the node also publishes its complete user list, so observers that missed a
    /// delta, or evicted this node during a stall, repair their directory within this many intervals.
    /// </summary>
    public int PresenceSnapshotEvery { get; set; } = 5;

    /// <summary>
    /// How long the users of a peer evicted for silence stay routable (to its queue), so that a peer that was only
    /// paused gets what was sent to them meanwhile. A peer heard again keeps them; one that left, restarted or whose
    /// queue the broker deleted loses them at once. <see cref="TimeSpan.Zero"/> forgets them with the peer.
    /// </summary>
    public TimeSpan SilentPeerUsersKeptFor { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a closing handshake may take before the connection is aborted.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// On the data-plane listener, send the frames waiting in a connection's queue with one socket write (up to 64)
    /// instead of one write each. Off only to measure what it saves.
    /// </summary>
    public bool GatherWrites { get; set; } = true;

    /// <summary>
    /// The least time between two socket writes to one client (0, the default: no wait). A connection that wrote less
    /// than this ago holds its next messages until this has passed since that write, then sends them in one write; a
    /// welcome, reply or error goes at once and takes the held messages along. Raises throughput where each client
    /// receives a steady stream of small messages (a busy fanout) at the price of up to this much latency; 5–50 ms is
    /// the useful range; it is good to about one kernel tick (4 ms at 250 Hz). 0, or 1 ms to 10 s. Applies on the data-plane listener with <see cref="GatherWrites"/>, where the held frames leave in one write.
    /// </summary>
    public TimeSpan WriteDelay { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// The TCP congestion control of the data-plane listener's connections (Linux), e.g. <c>cubic</c> or <c>bbr</c>;
    /// null, the default, keeps the system's (<c>net.ipv4.tcp_congestion_control</c>). It must be one the kernel
    /// offers (<c>/proc/sys/net/ipv4/tcp_available_congestion_control</c>), or the node does not start. For example BBR
    /// for nodes whose clients are far away while the host keeps cubic.
    /// </summary>
    public string? CongestionControl { get; set; }

    /// <summary>
    /// On the data-plane listener (Linux), a connection waits for its next bytes on one epoll reactor of the node's
    /// rather than in a pending receive of .NET's socket, which keeps ~0.5 KB of receive state per socket. Off only to
    /// measure what it saves; elsewhere than Linux it is off.
    /// </summary>
    public bool SocketReactor { get; set; } = true;

    /// <summary>How often the node pings an idle client.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Tolerated clock difference between gateways and this node when checking ticket expiry.</summary>
    public TimeSpan TicketClockSkew { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Keyed messages (sends with an idempotency key) whose ids the node remembers, so that a send carried out twice
    /// reaches its recipients on this node once; the oldest go first. A repeat is caught while fewer than this many
    /// keyed messages came between its two copies. 0 turns it off.
    /// </summary>
    public int RepeatWindow { get; set; } = 65_536;

    /// <summary>Messages each session keeps for a client that reconnects and resumes (the oldest go first).</summary>
    public int ReplayBufferMessages { get; set; } = 1000;

    /// <summary>Bytes of message frames each session keeps for a resume.</summary>
    public long ReplayBufferBytes { get; set; } = 1024 * 1024;

    /// <summary>How long a message stays resumable; older ones are not replayed (the client is told they are missed).</summary>
    public TimeSpan ReplayBufferAge { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a session whose client went away without saying goodbye (dropped, or moved by a drain) is kept for its
    /// resume: its user stays routed here and its messages are buffered. 0 turns resume off.
    /// </summary>
    public TimeSpan SessionGraceTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After a session is handed over, how long messages that still reach this node for it are forwarded to its new
    /// node (senders whose directory has not caught up yet).
    /// </summary>
    public TimeSpan ResumeForwardTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a resuming node waits for the session's old node to answer.</summary>
    public TimeSpan ResumeRequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Connections a drain asks to reconnect per second (in batches every 100 ms, with jitter).</summary>
    public double DrainRatePerSecond { get; set; } = 500;

    /// <summary>How long a drain may take; after it the node closes what is left (1012) and stops.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Once a burst of connections has settled, collect the managed heap once, compacting it and giving its free regions
    /// back to the operating system, and hand free native heap pages back too (glibc <c>malloc_trim</c>; skipped where
    /// there is none). An idle node never collects again on its own, so the burst's garbage would otherwise stay committed.
    /// Due when the connection count has moved by <see cref="IdleTrimMinConnectionChange"/> since the last trim and the node
    /// has been quiet for <see cref="IdleTrimSettleTime"/>; at most once per <see cref="IdleTrimMinInterval"/>.
    /// </summary>
    public bool IdleTrim { get; set; } = true;

    /// <summary>
    /// How long the node must have been quiet before an idle trim: its connection count moved by at most a tenth of
    /// <see cref="IdleTrimMinConnectionChange"/> and the process allocated at most <see cref="IdleTrimMaxAllocationRate"/>
    /// on average over this time.
    /// </summary>
    public TimeSpan IdleTrimSettleTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How far the connection count must have moved (up or down) since the last idle trim, or since the start, for the
    /// next one to be due: one trim per burst, none while the node stays idle and unchanged.
    /// </summary>
    public int IdleTrimMinConnectionChange { get; set; } = 1000;

    /// <summary>
    /// The highest average allocation rate, in bytes per second, at which the node counts as quiet. An idle node still
    /// allocates for its presence snapshots, ~120 bytes per user each (every <see cref="PresenceSnapshotEvery"/>
    /// heartbeats: ~0.36 MB/s at 15,000 users with the defaults), so the default counts nodes of up to ~80,000 users as
    /// quiet; raise it for larger ones.
    /// </summary>
    public long IdleTrimMaxAllocationRate { get; set; } = 2 * 1024 * 1024;

    /// <summary>The least time between two idle trims (each is a blocking full collection).</summary>
    public TimeSpan IdleTrimMinInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The idle trim's thresholds, from the <c>IdleTrim…</c> settings.</summary>
    internal Switchboard.Memory.IdleTrimSettings IdleTrimSettings => new(IdleTrimSettleTime, IdleTrimMinConnectionChange, IdleTrimMaxAllocationRate, IdleTrimMinInterval);

    /// <summary>Throws with the name of the first invalid setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeId) || NodeId.Any(char.IsControl) || NodeId.Length > 64)
        {
            throw new ArgumentException("Node:NodeId must be 1 to 64 characters without control characters.");
        }
        Security.SigningKeys.FromSecret(ClusterSecret, "Cluster:Secret");
        Positive(MaxConnections, "Node:MaxConnections");
        Positive(MaxMessageBytes, "Node:MaxMessageBytes");
        Positive(SendQueueCapacity, "Node:SendQueueCapacity");
        Positive(ProtocolErrorBudget, "Node:ProtocolErrorBudget");
        Positive(MaxGroupsPerConnection, "Node:MaxGroupsPerConnection");
        Positive(PresenceSnapshotEvery, "Node:PresenceSnapshotEvery");
        if (RepeatWindow < 0)
        {
            throw new ArgumentException($"Node:RepeatWindow must be 0 (off) or positive (is {RepeatWindow}).");
        }
        if (RateLimitPerSecond < 0 || (RateLimitPerSecond > 0 && RateLimitBurst < 1))
        {
            throw new ArgumentException("Node:RateLimitPerSecond must be 0 (off) or positive with Node:RateLimitBurst at least 1.");
        }
        Positive(HeartbeatInterval, "Node:HeartbeatInterval");
        if (SilentPeerUsersKeptFor < TimeSpan.Zero)
        {
            throw new ArgumentException($"Node:SilentPeerUsersKeptFor must be 0 (off) or positive (is {SilentPeerUsersKeptFor}).");
        }
        Positive(CloseTimeout, "Node:CloseTimeout");
        if (CongestionControl is not null && !System.Text.RegularExpressions.Regex.IsMatch(CongestionControl, "^[a-z0-9_]{1,15}$"))
        {
            throw new ArgumentException($"Node:CongestionControl '{CongestionControl}' is not a congestion control name (1 to 15 of a-z, 0-9, _; e.g. cubic, bbr).");
        }
        if (WriteDelay != TimeSpan.Zero && (WriteDelay < TimeSpan.FromMilliseconds(1) || WriteDelay > TimeSpan.FromSeconds(10)))
        {
            throw new ArgumentException($"Node:WriteDelay must be 0 (off) or between 1 ms and 10 s (is {WriteDelay}).");
        }
        // Both act on the data-plane listener only; elsewhere they would be silently ignored.
        if (WriteDelay != TimeSpan.Zero && (DataPlanePort is null || !GatherWrites))
        {
            throw new ArgumentException("Node:WriteDelay applies on the data-plane listener with gathered writes: set Node:DataPlanePort (switchboard node --ws-port) and leave Node:GatherWrites on.");
        }
        if (CongestionControl is not null && DataPlanePort is null)
        {
            throw new ArgumentException("Node:CongestionControl applies to the data-plane listener: set Node:DataPlanePort (switchboard node --ws-port).");
        }
        Positive(KeepAliveInterval, "Node:KeepAliveInterval");
        Positive(ReplayBufferMessages, "Node:ReplayBufferMessages");
        if (ReplayBufferBytes <= 0)
        {
            throw new ArgumentException($"Node:ReplayBufferBytes must be positive (is {ReplayBufferBytes}).");
        }
        Positive(ReplayBufferAge, "Node:ReplayBufferAge");
        if (SessionGraceTime < TimeSpan.Zero)
        {
            throw new ArgumentException($"Node:SessionGraceTime must not be negative (is {SessionGraceTime}).");
        }
        Positive(ResumeForwardTime, "Node:ResumeForwardTime");
        Positive(ResumeRequestTimeout, "Node:ResumeRequestTimeout");
        if (!(DrainRatePerSecond > 0))
        {
            throw new ArgumentException($"Node:DrainRatePerSecond must be positive (is {DrainRatePerSecond}).");
        }
        Positive(DrainTimeout, "Node:DrainTimeout");
        Positive(IdleTrimSettleTime, "Node:IdleTrimSettleTime");
        Positive(IdleTrimMinConnectionChange, "Node:IdleTrimMinConnectionChange");
        if (IdleTrimMaxAllocationRate <= 0)
        {
            throw new ArgumentException($"Node:IdleTrimMaxAllocationRate must be positive (is {IdleTrimMaxAllocationRate}).");
        }
        if (IdleTrimMinInterval < TimeSpan.Zero)
        {
            throw new ArgumentException($"Node:IdleTrimMinInterval must not be negative (is {IdleTrimMinInterval}).");
        }
        if (DataPlanePort is < 0 or > 65535)
        {
            throw new ArgumentException($"Node:DataPlanePort must be between 0 and 65535 (is {DataPlanePort}).");
        }
        if (DataPlanePort is not null && !System.Net.IPAddress.TryParse(DataPlaneAddress, out _))
        {
            throw new ArgumentException($"Node:DataPlaneAddress '{DataPlaneAddress}' must be an IP address.");
        }
        if (PublicUrl is not null && (!Uri.TryCreate(PublicUrl, UriKind.Absolute, out var url) || (url.Scheme != "ws" && url.Scheme != "wss")))
        {
            throw new ArgumentException($"Node:PublicUrl '{PublicUrl}' must be an absolute ws:// or wss:// URL.");
        }
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentException($"{name} must be positive (is {value}).");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} must be positive (is {value}).");
        }
    }
}
