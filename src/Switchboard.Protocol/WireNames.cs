namespace Switchboard.Protocol;

/// <summary>
/// Every name that appears on the client wire, defined once: the WebSocket path and subprotocol,
/// frame types, JSON field names and target prefixes. docs/protocol.md documents each of them.
/// </summary>
public static class WireNames
{
    /// <summary>The WebSocket subprotocol of protocol version 1.</summary>
    public const string Subprotocol = "switchboard.v1";

    /// <summary>The node's WebSocket path.</summary>
    public const string WebSocketPath = "/v1/ws";

    /// <summary>The query parameter that carries the ticket (browsers cannot set headers on a WebSocket).</summary>
    public const string TokenQueryParameter = "token";

    /// <summary>
    /// The query parameter of the node's WebSocket URL that asks for each <c>message</c> frame to carry its
    /// cluster-unique id in <c>mid</c> (<c>ids=1</c>): a failover proxy reading two copies of a stream uses it, and the
    /// .NET client, to drop a second copy of a send carried out twice.
    /// </summary>
    public const string MessageIdsQueryParameter = "ids";

    /// <summary>
    /// The query parameter of the node's WebSocket URL that delays a <c>send</c>'s answer until the message has been
    /// confirmed by the backplane's broker (<c>confirm=1</c>): a failover proxy sends again what a lost node did not answer.
    /// </summary>
    public const string ConfirmSendsQueryParameter = "confirm";

    /// <summary>Frame types (the value of the <c>type</c> field).</summary>
    public static class Types
    {
        public const string Send = "send";
        public const string Join = "join";
        public const string Leave = "leave";
        public const string Resume = "resume";
        public const string Ack = "ack";
        public const string Ping = "ping";
        public const string Welcome = "welcome";
        public const string Message = "message";
        public const string Reply = "reply";
        public const string Reconnect = "reconnect";
        public const string Error = "error";
    }

    /// <summary>JSON field names.</summary>
    public static class Fields
    {
        public const string Type = "type";
        public const string Id = "id";
        public const string To = "to";
        public const string From = "from";
        public const string Data = "data";
        public const string Group = "group";
        public const string Key = "key";
        public const string Session = "session";
        public const string LastSeq = "lastSeq";
        public const string Seq = "seq";
        public const string Ok = "ok";
        public const string Error = "error";
        public const string Code = "code";
        public const string Message = "message";
        public const string ConnectionId = "connectionId";
        public const string UserId = "userId";
        public const string Node = "node";
        public const string Resumed = "resumed";
        public const string Reason = "reason";
        public const string Url = "url";
        public const string Token = "token";
        public const string MissedFrom = "missedFrom";
        public const string MissedTo = "missedTo";
        public const string Replayed = "replayed";
        public const string MessageId = "mid";
    }

    /// <summary>Target prefixes of the <c>to</c> field.</summary>
    public static class Targets
    {
        public const string UserPrefix = "user:";
        public const string ConnectionPrefix = "conn:";
        public const string GroupPrefix = "group:";
        public const string All = "all";
    }

    /// <summary>The query parameter of <c>/v1/connect</c> that asks for a ticket to resume a session.</summary>
    public const string SessionQueryParameter = "session";

    /// <summary>The query parameter of <c>/v1/connect</c> that asks for a standby ticket: a new session standing by this live one.</summary>
    public const string StandbyQueryParameter = "standby";

    /// <summary>
    /// The query parameter of <c>/v1/connect</c> that names a node to place elsewhere than when another can take the
    /// connection (a failover proxy keeps a session and its standby apart).
    /// </summary>
    public const string AvoidQueryParameter = "avoid";

    /// <summary>The <c>reason</c> of a <c>reconnect</c> frame sent by a draining node.</summary>
    public const string DrainReason = "drain";

    /// <summary>The <c>reason</c> of a <c>reconnect</c> frame sent to move a connection off a loaded node.</summary>
    public const string RebalanceReason = "rebalance";

    /// <summary>The <c>from</c> value of messages published through the gateway's HTTP API.</summary>
    public const string ApiSender = "api";
}
