using Microsoft.Extensions.Logging;

namespace Switchboard.Gateway;

/// <summary>The gateway's log messages, source-generated. Event ids 1–99 lifecycle, 100–199 connect, 200–299 publish.</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(EventId = 1, EventName = "DevModeEnabled", Level = LogLevel.Warning,
        Message = "DEV MODE IS ON: /v1/connect accepts unsigned user ids, so anyone can connect as anyone. Never use Gateway:DevMode in production.")]
    public static partial void DevModeEnabled(this ILogger logger);

    [LoggerMessage(EventId = 2, EventName = "GatewayStarted", Level = LogLevel.Information,
        Message = "Gateway observing the backplane; placement policy {Policy}, heartbeat interval {HeartbeatInterval}")]
    public static partial void Started(this ILogger logger, string policy, TimeSpan heartbeatInterval);

    [LoggerMessage(EventId = 3, EventName = "GatewayStopped", Level = LogLevel.Information,
        Message = "Gateway stopped observing the backplane")]
    public static partial void Stopped(this ILogger logger);

    [LoggerMessage(EventId = 4, EventName = "NodeEvicted", Level = LogLevel.Warning,
        Message = "Node {NodeId} evicted: no heartbeat for {Silence}; no more placements on it, and its users stay routable (to its queue) for {UsersKeptFor}")]
    public static partial void NodeEvicted(this ILogger logger, string nodeId, TimeSpan silence, TimeSpan usersKeptFor);

    [LoggerMessage(EventId = 5, EventName = "ElectedRoundFailed", Level = LogLevel.Error,
        Message = "The {Role} round failed unexpectedly; the next comes in {Delay}")]
    public static partial void RoundFailed(this ILogger logger, string role, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 100, EventName = "Placed", Level = LogLevel.Debug,
        Message = "Placed user {UserId} on node {NodeId} (session {SessionId}, policy {Policy})")]
    public static partial void Placed(this ILogger logger, string userId, string nodeId, string sessionId, string policy);

    [LoggerMessage(EventId = 101, EventName = "ConnectRefused", Level = LogLevel.Debug,
        Message = "Connect refused: {Code}: {Reason}")]
    public static partial void ConnectRefused(this ILogger logger, string code, string reason);

    // Debug, not Warning: while a cluster is empty or full every client retry would log it.
    [LoggerMessage(EventId = 102, EventName = "PlacementFailed", Level = LogLevel.Debug,
        Message = "No node for user {UserId}: {Code}")]
    public static partial void PlacementFailed(this ILogger logger, string userId, string code);

    [LoggerMessage(EventId = 200, EventName = "Published", Level = LogLevel.Trace,
        Message = "Published {Bytes} bytes to {Target}")]
    public static partial void Published(this ILogger logger, string target, int bytes);

    [LoggerMessage(EventId = 201, EventName = "PublishRefused", Level = LogLevel.Debug,
        Message = "Publish refused: missing or unknown API key")]
    public static partial void PublishRefused(this ILogger logger);

    [LoggerMessage(EventId = 202, EventName = "PublishFailed", Level = LogLevel.Error,
        Message = "Could not route a published message to {Target}")]
    public static partial void PublishFailed(this ILogger logger, string target, Exception exception);

    [LoggerMessage(EventId = 300, EventName = "DrainRelayed", Level = LogLevel.Information,
        Message = "Drain of node {NodeId} relayed (count {Count})")]
    public static partial void DrainRelayed(this ILogger logger, string nodeId, int? count);

    [LoggerMessage(EventId = 301, EventName = "DrainRelayFailed", Level = LogLevel.Warning,
        Message = "Drain of node {NodeId} could not be relayed: {Failure}")]
    public static partial void DrainRelayFailed(this ILogger logger, string nodeId, string failure);

    [LoggerMessage(EventId = 400, EventName = "Rebalanced", Level = LogLevel.Information,
        Message = "Rebalancer asked node {NodeId} to move {Moving} of {Connections} connections (cluster mean load {Mean:0.###})")]
    public static partial void Rebalanced(this ILogger logger, string nodeId, int moving, int connections, double mean);

    [LoggerMessage(EventId = 401, EventName = "RebalanceRequestFailed", Level = LogLevel.Warning,
        Message = "Rebalancer request failed: {Reason}")]
    public static partial void RebalanceRequestFailed(this ILogger logger, string reason);
}
