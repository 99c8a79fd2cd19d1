using Microsoft.Extensions.Logging;

namespace Switchboard.Proxy;

internal static partial class ProxyLog
{
    [LoggerMessage(1, LogLevel.Information, "Proxy ({Mode}) listening on {EndPoint} with policy {Policy}, {Backends} static backends", EventName = "ProxyStarted")]
    public static partial void ProxyStarted(ILogger logger, string mode, string endPoint, string policy, int backends);

    [LoggerMessage(2, LogLevel.Information, "Proxy stopping: closing {Connections} connections", EventName = "ProxyStopping")]
    public static partial void ProxyStopping(ILogger logger, int connections);

    [LoggerMessage(3, LogLevel.Debug, "Client {Client} refused with {Status}: {Message}", EventName = "ClientRefused")]
    public static partial void ClientRefused(ILogger logger, string client, int status, string message);

    [LoggerMessage(4, LogLevel.Debug, "Client {Client} tunnelled to {Backend}", EventName = "TunnelOpened")]
    public static partial void TunnelOpened(ILogger logger, string client, string backend);

    [LoggerMessage(5, LogLevel.Debug, "Client {Client} to {Backend} closed ({End})", EventName = "TunnelClosed")]
    public static partial void TunnelClosed(ILogger logger, string client, string backend, string end);

    [LoggerMessage(6, LogLevel.Warning, "Dial to backend {Backend} failed: {Message}", EventName = "DialFailed")]
    public static partial void DialFailed(ILogger logger, string backend, string message);

    [LoggerMessage(7, LogLevel.Warning, "Backend {Backend} ejected: {Why}", EventName = "BackendEjected")]
    public static partial void BackendEjected(ILogger logger, string backend, string why);

    [LoggerMessage(8, LogLevel.Information, "Backend {Backend} is back", EventName = "BackendRestored")]
    public static partial void BackendRestored(ILogger logger, string backend);

    [LoggerMessage(9, LogLevel.Information, "Configuration reloaded: policy {Policy}, {Backends} static backends", EventName = "Reloaded")]
    public static partial void Reloaded(ILogger logger, string policy, int backends);

    [LoggerMessage(10, LogLevel.Warning, "Configuration reload refused, keeping the running one: {Message}", EventName = "ReloadRefused")]
    public static partial void ReloadRefused(ILogger logger, string message);

    [LoggerMessage(11, LogLevel.Warning, "Accept failed: {Message}", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, string message);

    [LoggerMessage(12, LogLevel.Warning, "{Key} changed on reload, but takes effect only on restart", EventName = "ReloadNeedsRestart")]
    public static partial void ReloadNeedsRestart(ILogger logger, string key);

    [LoggerMessage(13, LogLevel.Information, "Cluster node {NodeId} at {Url} joined the backends", EventName = "NodeAdded")]
    public static partial void NodeAdded(ILogger logger, string nodeId, string url);

    [LoggerMessage(14, LogLevel.Information, "Cluster node {NodeId} left the backends", EventName = "NodeRemoved")]
    public static partial void NodeRemoved(ILogger logger, string nodeId);

    [LoggerMessage(37, LogLevel.Warning, "Static backend {Backend} has the id of a cluster node: both are backends (/admin/backends tells them apart by origin), a ticket naming {Backend} goes to the node, and the stickiness cookie and the hash policies cannot tell the two apart; give the node another id or drop the static backend", EventName = "BackendIdShared")]
    public static partial void BackendIdShared(ILogger logger, string backend);

    [LoggerMessage(15, LogLevel.Error, "Connection from {Client} failed unexpectedly", EventName = "ConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, string client, Exception exception);

    [LoggerMessage(16, LogLevel.Information, "Session {Session} leaves node {Node} (close {Status}, reconnect asked: {Reconnect}); resuming it elsewhere", EventName = "FailoverStarted")]
    public static partial void FailoverStarted(ILogger logger, string session, string node, int status, bool reconnect);

    [LoggerMessage(17, LogLevel.Information, "Session {Session} resumed on node {Node} after seq {LastSeq} (attempt {Attempt})", EventName = "FailoverResumed")]
    public static partial void FailoverResumed(ILogger logger, string session, string node, long lastSeq, int attempt);

    [LoggerMessage(18, LogLevel.Warning, "Session {Session} resumed on node {Node} with a gap: seqs {MissedFrom}..{MissedTo} are lost", EventName = "FailoverGap")]
    public static partial void FailoverGap(ILogger logger, string session, string node, long missedFrom, long missedTo);

    [LoggerMessage(19, LogLevel.Warning, "Session {Session} could not be resumed (node {Node} opened a new session or refused the resume); the client is closed with 1012", EventName = "FailoverLost")]
    public static partial void FailoverLost(ILogger logger, string session, string node);

    [LoggerMessage(27, LogLevel.Warning, "Session {Session} lost with node {Node}; its standby {Standby} on node {StandbyNode} carries on ({Pending} messages only the standby had)", EventName = "FailoverPromoted")]
    public static partial void FailoverPromoted(ILogger logger, string session, string node, string standby, string standbyNode, int pending);

    [LoggerMessage(36, LogLevel.Warning, "Session {Session}: the client is a slow consumer, more than {Capacity} frames or {CapacityBytes} bytes wait for it; closing it with 3008 (its node keeps the session; {Held} more since the last such warning)", EventName = "SlowClient")]
    public static partial void SlowClient(ILogger logger, string session, int capacity, long capacityBytes, long held);

    [LoggerMessage(38, LogLevel.Debug, "Session {Session}: a send to the client failed ({Message}); what it sent before, its close too, is still read and goes to the node", EventName = "ClientSendFailed")]
    public static partial void ClientSendFailed(ILogger logger, string session, string message);

    [LoggerMessage(28, LogLevel.Debug, "Standby for session {Session} not opened: {Message}", EventName = "StandbyFailed")]
    public static partial void StandbyFailed(ILogger logger, string session, string message);

    [LoggerMessage(29, LogLevel.Debug, "Standby {Standby} for session {Session} open on node {Node}", EventName = "StandbyOpened")]
    public static partial void StandbyOpened(ILogger logger, string standby, string session, string node);

    [LoggerMessage(20, LogLevel.Debug, "Resuming session {Session}, attempt {Attempt} failed: {Message}", EventName = "FailoverAttemptFailed")]
    public static partial void FailoverAttemptFailed(ILogger logger, string session, int attempt, string message);

    [LoggerMessage(21, LogLevel.Error, "The gateway {Gateway} refuses the proxy's resume requests ({Status}): {Message}. Sessions whose node goes are closed with 1012 until this is fixed", EventName = "GatewayRefused")]
    public static partial void GatewayRefused(ILogger logger, string gateway, int status, string message);

    [LoggerMessage(22, LogLevel.Debug, "The gateway refused a resume request again ({Status}); the client is closed with 1012", EventName = "GatewayRefusedAgain")]
    public static partial void GatewayRefusedAgain(ILogger logger, int status);

    [LoggerMessage(23, LogLevel.Warning, "Failover mode without Proxy:GatewayKey: the proxy asks {Gateway} for resume tickets as a dev-mode client, which only a gateway with Gateway:DevMode=true accepts", EventName = "NoGatewayKey")]
    public static partial void NoGatewayKey(ILogger logger, string gateway);

    [LoggerMessage(24, LogLevel.Error, "A relay failed on the reactor's thread; the reactor carries on", EventName = "ReactorFailed")]
    public static partial void ReactorFailed(ILogger logger, Exception exception);

    [LoggerMessage(25, LogLevel.Information,
        "Proxy trimmed idle memory at {Connections} connections: RSS {RssBeforeMB} MB -> {RssAfterMB} MB, GC heap committed {CommittedBeforeMB} MB -> {CommittedAfterMB} MB, paused {PauseMs} ms",
        EventName = "IdleTrimmed")]
    public static partial void IdleTrimmed(ILogger logger, int connections, double rssBeforeMB, double rssAfterMB, double committedBeforeMB, double committedAfterMB, double pauseMs);

    [LoggerMessage(27, LogLevel.Information, "Kernel relay on: established tunnels are relayed by the kernel (eBPF sockmap)", EventName = "KernelRelayOn")]
    public static partial void KernelRelayOn(ILogger logger);

    [LoggerMessage(28, LogLevel.Warning, "Kernel relay not available, relaying on the reactor thread instead: {Reason}", EventName = "KernelRelayUnavailable")]
    public static partial void KernelRelayUnavailable(ILogger logger, string reason);

    [LoggerMessage(29, LogLevel.Warning, "Client {Client}: the kernel relay took only half the tunnel, closing it: {Reason}", EventName = "KernelRelayHalfJoined")]
    public static partial void KernelRelayHalfJoined(ILogger logger, string client, string reason);

    [LoggerMessage(30, LogLevel.Debug, "Client {Client}: the kernel relay could not take the tunnel, relaying it on the reactor thread: {Reason}", EventName = "KernelRelayDeclined")]
    public static partial void KernelRelayDeclined(ILogger logger, string client, string reason);

    [LoggerMessage(31, LogLevel.Information, "Relay threads ({Threads}) at real-time priority {Priority} (SCHED_FIFO)", EventName = "RelayPriorityOn")]
    public static partial void RelayPriorityOn(ILogger logger, int threads, int priority);

    [LoggerMessage(32, LogLevel.Warning, "Relay threads left at normal priority: real-time priority {Priority} refused, {Reason}", EventName = "RelayPriorityRefused")]
    public static partial void RelayPriorityRefused(ILogger logger, int priority, string reason);

    [LoggerMessage(26, LogLevel.Warning, "The proxy could not trim idle memory", EventName = "IdleTrimFailed")]
    public static partial void IdleTrimFailed(ILogger logger, Exception exception);

    [LoggerMessage(34, LogLevel.Warning, "Dial to backend {Backend} failed on the proxy's side, not counted against it: {Message} ({Held} more since the last such warning)", EventName = "LocalDialFailed")]
    public static partial void LocalDialFailed(ILogger logger, string backend, string message, long held);

    [LoggerMessage(35, LogLevel.Warning, "Accept failed for want of a resource: {Message}; accepting again in {DelayMs} ms ({Held} more such failures since the last warning)", EventName = "AcceptBackingOff")]
    public static partial void AcceptBackingOff(ILogger logger, string message, double delayMs, long held);

    [LoggerMessage(33, LogLevel.Debug, "Client {Client}: backend {Backend} refused the upgrade with {Status}; closing after its answer", EventName = "UpgradeRefusedByBackend")]
    public static partial void UpgradeRefusedByBackend(ILogger logger, string client, string backend, int status);
}
