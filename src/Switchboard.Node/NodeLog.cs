using Microsoft.Extensions.Logging;
using Switchboard.Node.Connections;

namespace Switchboard.Node;

internal static partial class NodeLog
{
    [LoggerMessage(1, LogLevel.Information, "Node {NodeId} started at {Url} (capacity {Capacity})", EventName = "NodeStarted")]
    public static partial void NodeStarted(ILogger logger, string nodeId, string url, int capacity);

    [LoggerMessage(2, LogLevel.Information, "Node {NodeId} stopping: closing {Connections} connections", EventName = "NodeStopping")]
    public static partial void NodeStopping(ILogger logger, string nodeId, int connections);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId} of user {UserId} opened", EventName = "ConnectionOpened")]
    public static partial void ConnectionOpened(ILogger logger, string connectionId, string userId);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId} closed: {Reason}", EventName = "ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, CloseReason reason);

    [LoggerMessage(5, LogLevel.Debug, "Ticket refused: {Failure}", EventName = "TicketRefused")]
    public static partial void TicketRefused(ILogger logger, Security.Tickets.TicketFailure failure);

    [LoggerMessage(6, LogLevel.Warning, "Node {NodeId} is full ({Capacity} connections): refusing a connection with 1013", EventName = "NodeFull")]
    public static partial void NodeFull(ILogger logger, string nodeId, int capacity);

    [LoggerMessage(7, LogLevel.Warning, "Connection {ConnectionId} is a slow consumer: its send queue overflowed, closing with 3008", EventName = "SlowConsumer")]
    public static partial void SlowConsumer(ILogger logger, string connectionId);

    [LoggerMessage(8, LogLevel.Warning, "The backplane failed while routing: {Message}", EventName = "BackplaneFailed")]
    public static partial void BackplaneFailed(ILogger logger, string message);

    [LoggerMessage(9, LogLevel.Error, "Connection {ConnectionId} failed unexpectedly", EventName = "ConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Heartbeat of node {NodeId} could not be published: {Reason}", EventName = "HeartbeatFailed")]
    public static partial void HeartbeatFailed(ILogger logger, string nodeId, string reason, Exception? exception);

    [LoggerMessage(11, LogLevel.Debug, "Session {SessionId} of user {UserId} resumed on connection {ConnectionId} (from {FromNode}, {Replayed} replayed, missed {Missed})", EventName = "SessionResumed")]
    public static partial void SessionResumed(ILogger logger, string sessionId, string userId, string connectionId, string fromNode, int replayed, string missed);

    [LoggerMessage(12, LogLevel.Debug, "Session {SessionId} could not be resumed: {Code}", EventName = "ResumeRefused")]
    public static partial void ResumeRefused(ILogger logger, string sessionId, string code);

    [LoggerMessage(51, LogLevel.Information, "Standby connection of user {UserId} refused: session {SessionId} is not live on any node", EventName = "StandbyRefused")]
    public static partial void StandbyRefused(ILogger logger, string userId, string sessionId);

    [LoggerMessage(13, LogLevel.Information, "Node {NodeId} draining {Connections} connections at {Rate}/s (deadline {Deadline})", EventName = "DrainStarted")]
    public static partial void DrainStarted(ILogger logger, string nodeId, int connections, double rate, TimeSpan deadline);

    [LoggerMessage(14, LogLevel.Information, "Node {NodeId} drained: {Left} connections and {Kept} sessions left", EventName = "DrainFinished")]
    public static partial void DrainFinished(ILogger logger, string nodeId, int left, int kept);

    [LoggerMessage(15, LogLevel.Information,
        "Node {NodeId} trimmed idle memory at {Connections} connections: RSS {RssBeforeMB} MB -> {RssAfterMB} MB ({CollectedMB} MB by the collection, {NativeMB} MB by malloc_trim), GC heap committed {CommittedBeforeMB} MB -> {CommittedAfterMB} MB, paused {PauseMs} ms",
        EventName = "IdleTrimmed")]
    public static partial void IdleTrimmed(ILogger logger, string nodeId, int connections, double rssBeforeMB, double rssAfterMB, double collectedMB, double nativeMB,
        double committedBeforeMB, double committedAfterMB, double pauseMs);

    [LoggerMessage(16, LogLevel.Warning, "Node {NodeId} could not trim idle memory", EventName = "IdleTrimFailed")]
    public static partial void IdleTrimFailed(ILogger logger, string nodeId, Exception exception);

    [LoggerMessage(17, LogLevel.Warning, "Node {NodeId} evicted peer {PeerId}: no heartbeat for {Silence}; its users stay routable (to its queue) for {UsersKeptFor}", EventName = "PeerEvicted")]
    public static partial void PeerEvicted(ILogger logger, string nodeId, string peerId, TimeSpan silence, TimeSpan usersKeptFor);

    [LoggerMessage(50, LogLevel.Warning, "The data-plane listener could not accept a connection: {Error}", EventName = "DataPlaneAcceptFailed")]
    public static partial void DataPlaneAcceptFailed(ILogger logger, System.Net.Sockets.SocketError error);

    [LoggerMessage(52, LogLevel.Error, "A data-plane connection's readiness handler failed on the reactor's thread; the reactor carries on", EventName = "ReactorFailed")]
    public static partial void ReactorFailed(ILogger logger, Exception exception);
}
