using Switchboard.Proxy.Policies;

namespace Switchboard.Proxy.Hosting;

/// <summary>Options of <c>switchboard proxy</c>, bound from the <c>Proxy</c> configuration section; flags override them.</summary>
public sealed class ProxyOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Proxy";

    /// <summary>What the proxy does with a connection: <see cref="ProxyModes.Tunnel"/>, <see cref="ProxyModes.Tcp"/> or <see cref="ProxyModes.Failover"/>.</summary>
    public string Mode { get; set; } = ProxyModes.Tunnel;

    /// <summary>The client-facing address, <c>IP:PORT</c> (port 0: any free port).</summary>
    public string Listen { get; set; } = "127.0.0.1:8080";

    /// <summary>The admin address serving <c>/metrics</c>, <c>/healthz</c> and <c>/admin/backends</c>, <c>IP:PORT</c>; none when empty.</summary>
    public string? Admin { get; set; }

    /// <summary>Static backends, each <c>ws://host:port[/path][,weight=N]</c> (<c>tcp://host:port</c> also in tcp mode).</summary>
    public List<string> Backends { get; set; } = [];

    /// <summary>
    /// The balancing policy, one of <see cref="BalancingPolicies"/>; default <c>ticket</c> when backends come from the
    /// cluster (tunnel and failover modes), else <c>round-robin</c> in tunnel mode and <c>source-hash</c> (on IP:port) in tcp mode.
    /// </summary>
    public string? Policy { get; set; }

    /// <summary>What the <c>ticket</c> policy does for a client without a ticket, or whose ticket names no available node.</summary>
    public string TicketFallback { get; set; } = BalancingPolicies.LeastLoaded;

    /// <summary>What <c>source-hash</c> and <c>consistent-hash</c> hash: <c>ip</c>, <c>ip:port</c>, <c>header:NAME</c>, <c>query:NAME</c>, <c>cookie:NAME</c>; default <c>ip</c> in tunnel mode, <c>ip:port</c> in tcp mode.</summary>
    public string? HashOn { get; set; }

    /// <summary>The cookie the <c>cookie</c> policy sets and reads.</summary>
    public string StickyCookie { get; set; } = "SB-Backend";

    /// <summary>The whole upgrade (client head, dial, backend's answer) must complete within this.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection that moves no byte either way for this long is closed; zero turns it off.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Timeout of one upstream TCP connect.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest client request head in bytes; a larger one gets 431.</summary>
    public int MaxHeadBytes { get; set; } = 16 * 1024;

    /// <summary>
    /// Open client connections at most; past it a client gets 503 (tunnel, failover) or is closed (tcp). Unset, as many as
    /// fit in <see cref="FileDescriptorBudget"/> descriptors (a process may hold 20,000; the rest is left to the listener,
    /// the admin port, the gateway's and health checks' connections): 9,000 in tunnel and tcp mode, whose connections
    /// hold two sockets (client and backend), and in failover mode without <see cref="Standby"/>; 6,000 in failover mode
    /// with it, whose sessions hold three (client, node, standby).
    /// </summary>
    public int? MaxConnections { get; set; }

    /// <summary>The file descriptors the default <see cref="MaxConnections"/> fills.</summary>
    public const int FileDescriptorBudget = 18_000;

    /// <summary>New connections accepted per second at most (with a burst of the same size); 0 for no limit. Past it the accept loop waits.</summary>
    public double AcceptRatePerSecond { get; set; }

    /// <summary>Local addresses upstream sockets bind to in turn: <c>127.0.0.2-127.0.0.9</c> ranges or single addresses.</summary>
    public List<string> SourceAddresses { get; set; } = [];

    /// <summary>Backends tried for one client when dials fail, before answering 502.</summary>
    public int MaxDialAttempts { get; set; } = 3;

    /// <summary>Active health checks.</summary>
    public HealthCheckOptions HealthCheck { get; set; } = new();

    /// <summary>Consecutive failed dials (or abnormal closes) that eject a backend.</summary>
    public int PassiveFall { get; set; } = 3;

    /// <summary>Without active checks, how long a passively ejected backend waits before it is tried again.</summary>
    public TimeSpan PassiveEjectionTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Tunnel and tcp mode: once a tunnel is set up, let the Linux kernel relay its bytes (an eBPF sockmap program
    /// redirects what arrives on either socket into the other), so that relayed bytes never wake the proxy. Needs
    /// Linux, IPv4 and the right to use bpf (root, or CAP_BPF with CAP_NET_ADMIN); where it is not available the
    /// proxy says so at start and relays on its reactor threads, as with false. Off by default: measured on a busy
    /// two-core machine it took the proxy process's own CPU to almost nothing and lowered the added p50, but the
    /// kernel passes redirected bytes on from a worker thread bound to the CPU they arrived on, and the added p99
    /// was higher than the reactor's. Read at start.
    /// </summary>
    public bool KernelRelay { get; set; }

    /// <summary>
    /// Tunnel and tcp mode: 1–99 runs the reactor threads that relay tunnels under the Linux real-time FIFO
    /// scheduler at that priority, so that a relayed byte wakes it at once instead of waiting for a busy core's next turn;
    /// 0 (default) leaves it under the normal scheduler. On a busy machine that wait is most of what a tunnel adds:
    /// measured interleaved with direct clients on a shared two-core machine at 2,500–5,000 msg/s per path, the p99 the
    /// proxy adds fell from 15 % to 0–4 % (docs/proxy.md, Figures). Needs root or CAP_SYS_NICE; where refused, the proxy says why at start and relays
    /// at normal priority. The kernel's real-time throttling (<c>kernel.sched_rt_runtime_us</c>, 95 % by default) still
    /// leaves a core to the rest when the relay is saturated. Read at start.
    /// </summary>
    public int RelayPriority { get; set; }

    /// <summary>
    /// Tunnel and tcp mode: how many reactor threads relay tunnels, each connection on the one serving the fewest sockets
    /// from accept to close; 0 (default) is one per processor the process may use (one with a <see cref="RelayPriority"/>, which
    /// serves it at once without more). On a machine shared with busy backends a single
    /// thread doing all the relaying is served late, since Linux shares a busy core out per thread (docs/proxy.md, Relay).
    /// Read at start.
    /// </summary>
    public int RelayThreads { get; set; }

    /// <summary>
    /// The reactor threads <see cref="RelayThreads"/> asks for: 0 is one per processor under the normal scheduler, and
    /// one under a <see cref="RelayPriority"/>, which serves a thread at once however busy the machine is, and would let a
    /// saturated relay take most of every core rather than of one.
    /// </summary>
    internal int RelayThreadCount => RelayThreads > 0 ? RelayThreads : RelayPriority > 0 ? 1 : Environment.ProcessorCount;

    /// <summary>Add <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> to relayed upgrades.</summary>
    public bool AddForwardedHeaders { get; set; } = true;

    /// <summary>
    /// Once a burst of connections has settled (the count moved by 1,000 and then stayed flat for 5 s, allocating
    /// little), collect the managed heap once, compacting it and giving its free regions back to the operating system,
    /// and trim glibc's heap; at most once per 30 s. An idle proxy never collects on its own, so the burst's garbage
    /// would otherwise stay resident. Read at start.
    /// </summary>
    public bool IdleTrim { get; set; } = true;

    /// <summary>
    /// The gateway's base URL (<c>http://host:port</c>), where failover mode asks for resume tickets; required in that
    /// mode. The proxy names the user from the client's ticket and the session from its welcome (<c>{"userId":…}</c>).
    /// </summary>
    public string? Gateway { get; set; }

    /// <summary>
    /// Failover mode: the proxy's credential with the gateway, one of its <c>Gateway:ProxyKeys</c>, sent in
    /// <c>X-Proxy-Key</c>; at least <see cref="MinGatewayKeyLength"/> characters. Without it only a dev-mode gateway
    /// issues resume tickets to the proxy.
    /// </summary>
    public string? GatewayKey { get; set; }

    /// <summary>The shortest <see cref="GatewayKey"/> accepted (the gateway's minimum for its proxy keys).</summary>
    public const int MinGatewayKeyLength = 16;

    /// <summary>Failover mode: how long the proxy tries to resume a session elsewhere before it closes the client with 1012.</summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Failover mode: client frames held per connection while its session moves; past it the client is back-pressured.</summary>
    public int FailoverQueueFrames { get; set; } = 256;

    /// <summary>
    /// Failover mode: node frames held per client until it has read them, as a node's send queue
    /// (<c>Node:SendQueueCapacity</c>). When one more does not fit, the client is closed with 3008 as a node would close
    /// it, and its node keeps the session for a resume; the proxy never stops reading a node for a slow client.
    /// </summary>
    public int SendQueueFrames { get; set; } = 1024;

    /// <summary>
    /// Failover mode: bytes of node frames held per client until it has read them; when one more frame would take the
    /// queue past it (or past <see cref="SendQueueFrames"/>), the client is closed with 3008. A single frame always fits,
    /// so a client holds at most this plus one frame (1 MiB at most) here, besides a resume's replay.
    /// </summary>
    public long SendQueueBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>
    /// Failover mode: keep a standby connection for each client on a second node (same user, a session of its own), so a
    /// node that dies without a drain (a crash, SIGKILL) loses the client nothing: the standby already has every message
    /// the dead node had not delivered. Costs a second node connection and a second copy of each message per client.
    /// </summary>
    public bool Standby { get; set; } = true;

    /// <summary>
    /// Failover mode: a standby that replaces a lost or promoted one is opened at a random moment within this, so the
    /// clients of a lost node (whose sessions or standbys were there) do not all ask the gateway and the nodes at once.
    /// </summary>
    public TimeSpan StandbySpread { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Failover mode: how often the proxy pings each node it holds a WebSocket to (the client's node and its standby);
    /// zero sends no pings. With <see cref="NodeKeepAliveTimeout"/>, this is how a node whose machine vanished (no FIN,
    /// no reset: a power cut, a cable pulled, a frozen VM) is told from a quiet one.
    /// </summary>
    public TimeSpan NodeKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Failover mode: a node that has not answered a ping within this is taken for gone, as if its connection had
    /// dropped (1006): the session moves to another node, or the standby carries it on. Zero waits for ever.
    /// </summary>
    public TimeSpan NodeKeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>After one side of a tunnel closes, how long the other may still finish (a WebSocket close handshake).</summary>
    public TimeSpan CloseGrace { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Active HTTP health checks of the backends.</summary>
public sealed class HealthCheckOptions
{
    /// <summary>The path to GET on each backend's host and port (http:// for ws:// backends); empty turns active checks off.</summary>
    public string? Path { get; set; }

    /// <summary>Time between checks of one backend.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Timeout of one check.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive passes that bring an ejected backend back.</summary>
    public int Rise { get; set; } = 2;

    /// <summary>Consecutive failures that eject a backend.</summary>
    public int Fall { get; set; } = 3;
}

/// <summary>The proxy's modes.</summary>
public static class ProxyModes
{
    /// <summary>Relay the WebSocket upgrade, then bytes both ways.</summary>
    public const string Tunnel = "tunnel";

    /// <summary>L4: no HTTP parsing, balanced by source IP:port hash by default.</summary>
    public const string Tcp = "tcp";

    /// <summary>Terminate WebSocket on both sides and, when a node goes mid-session, resume the session on another node unseen by the client.</summary>
    public const string Failover = "failover";
}
