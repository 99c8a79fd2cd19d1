using Microsoft.Extensions.Logging;

namespace Switchboard.Backplane.RabbitMq;

internal static partial class RabbitMqLog
{
    [LoggerMessage(EventId = 1, EventName = "BrokerConnected", Level = LogLevel.Information,
        Message = "Backplane connected to RabbitMQ at {Endpoint}")]
    public static partial void Connected(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 2, EventName = "BrokerLost", Level = LogLevel.Warning,
        Message = "Backplane lost RabbitMQ at {Endpoint} ({Reason}); serving local traffic, counting what cannot be routed, reconnecting with backoff")]
    public static partial void Lost(ILogger logger, string endpoint, string reason);

    [LoggerMessage(EventId = 3, EventName = "BrokerRestored", Level = LogLevel.Warning,
        Message = "Backplane reconnected to RabbitMQ at {Endpoint} after {Downtime}; {Unroutable} messages could not be routed meanwhile")]
    public static partial void Restored(ILogger logger, string endpoint, TimeSpan downtime, long unroutable);

    [LoggerMessage(EventId = 4, EventName = "ReconnectFailed", Level = LogLevel.Debug,
        Message = "Backplane reconnection attempt to {Endpoint} failed")]
    public static partial void ReconnectFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "BadBackplaneMessage", Level = LogLevel.Warning,
        Message = "Dropped a malformed or foreign message from queue {Queue} (type {Type}, app {AppId}): {Problem}")]
    public static partial void BadMessage(ILogger logger, string queue, string? type, string? appId, string problem);

    [LoggerMessage(EventId = 6, EventName = "EventExchangeUnavailable", Level = LogLevel.Information,
        Message = "The broker's event exchange is not enabled (plugin rabbitmq_event_exchange); dead nodes are detected by missed heartbeats only")]
    public static partial void EventExchangeUnavailable(ILogger logger);

    [LoggerMessage(EventId = 7, EventName = "TopologyFailed", Level = LogLevel.Warning,
        Message = "Backplane could not apply {Operation} on the broker; it will be re-applied on reconnection")]
    public static partial void TopologyFailed(ILogger logger, string operation, Exception exception);

    [LoggerMessage(EventId = 8, EventName = "NodeIdTaken", Level = LogLevel.Error,
        Message = "Node id {NodeId} is held by another process on the backplane; this node receives nothing until it is free")]
    public static partial void NodeIdTaken(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 9, EventName = "AnnounceRequestDropped", Level = LogLevel.Warning,
        Message = "Could not ask the other processes' nodes to re-announce (the publish queue is full); their users are learned from their next periodic snapshot")]
    public static partial void AnnounceRequestDropped(ILogger logger);
}
