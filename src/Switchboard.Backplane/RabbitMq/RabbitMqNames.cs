using System.Security.Cryptography;
using System.Text;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// Every name the RabbitMQ backplane puts on the wire: exchanges, queues, routing keys and message types.
/// All exchange and queue names start with a prefix, so several clusters can share one broker.
/// </summary>
public sealed class RabbitMqNames
{
    /// <summary>The <c>app-id</c> on every message this backplane publishes; anything else in its queues is foreign.</summary>
    public const string AppId = "switchboard";

    /// <summary>Message type of a batch of routed frames.</summary>
    public const string FramesType = "switchboard.frames.v1";

    /// <summary>Message type of a heartbeat.</summary>
    public const string HeartbeatType = "switchboard.heartbeat.v1";

    /// <summary>Message type of a presence delta or snapshot.</summary>
    public const string PresenceType = "switchboard.presence.v1";

    /// <summary>Message type of a request to one node (on the nodes exchange, keyed by node id).</summary>
    public const string RequestType = "switchboard.request.v1";

    /// <summary>Message type of the answer to a request (to the requester's reply queue, through the default exchange).</summary>
    public const string ResponseType = "switchboard.response.v1";

    /// <summary>Message type of an election tick (to an election queue; only its active consumer receives it).</summary>
    public const string ElectionTickType = "switchboard.elect.v1";

    /// <summary>Message type of an observer's request that every node re-announce its presence (it just (re)connected).</summary>
    public const string AnnounceRequestType = "switchboard.announce.v1";

    /// <summary>Message type of a node's departure.</summary>
    public const string NodeLeftType = "switchboard.node-left.v1";

    /// <summary>The routing key, on the groups exchange, of messages for every node.</summary>
    public const string BroadcastKey = "all";

    /// <summary>The broker's event exchange (plugin <c>rabbitmq_event_exchange</c>), when enabled.</summary>
    public const string EventExchange = "amq.rabbitmq.event";

    /// <summary>The event raised when a queue is deleted, e.g. because the node holding it died.</summary>
    public const string QueueDeletedEvent = "queue.deleted";

    // A topic binding key treats the words "*" and "#" as wildcards and has a 255-byte limit; group names are escaped
    // so that no name can match another's messages, and hashed when too long.
    private const int MaxRoutingKeyBytes = 255;

    /// <summary>Names with the given prefix.</summary>
    public RabbitMqNames(string prefix)
    {
        Prefix = prefix;
        NodesExchange = $"{prefix}.nodes";
        GroupsExchange = $"{prefix}.groups";
        ControlExchange = $"{prefix}.control";
        NodeQueuePrefix = $"{prefix}.node.";
    }

    /// <summary>The prefix of every exchange and queue name.</summary>
    public string Prefix { get; }

    /// <summary>Direct exchange: routing key = node id, one exclusive queue per node.</summary>
    public string NodesExchange { get; }

    /// <summary>Topic exchange: one binding per (node, group) with local members, plus <see cref="BroadcastKey"/>.</summary>
    public string GroupsExchange { get; }

    /// <summary>Fanout exchange: heartbeats, presence and departures, to every observer.</summary>
    public string ControlExchange { get; }

    /// <summary>The start of every node queue's name; the rest is the node id.</summary>
    public string NodeQueuePrefix { get; }

    /// <summary>The queue a node consumes. Exclusive, so a second process with the same node id is refused.</summary>
    public string NodeQueue(string nodeId) => NodeQueuePrefix + nodeId;

    /// <summary>The node id of a node queue's name, or null for any other queue.</summary>
    public string? NodeIdOfQueue(string queue) =>
        queue.StartsWith(NodeQueuePrefix, StringComparison.Ordinal) && queue.Length > NodeQueuePrefix.Length ? queue[NodeQueuePrefix.Length..] : null;

    /// <summary>The single-active-consumer queue of an election: whoever the broker delivers its ticks to holds the role.</summary>
    public string ElectionQueue(string role) => $"{Prefix}.elect.{role}";

    /// <summary>The routing key of a group on the groups exchange.</summary>
    public static string GroupKey(string group)
    {
        var escaped = new StringBuilder("g.", group.Length + 8);
        foreach (var c in group)
        {
            _ = c switch
            {
                '%' => escaped.Append("%25"),
                '*' => escaped.Append("%2A"),
                '#' => escaped.Append("%23"),
                _ => escaped.Append(c),
            };
        }
        var key = escaped.ToString();
        if (Encoding.UTF8.GetByteCount(key) <= MaxRoutingKeyBytes)
        {
            return key;
        }
        // Receivers deliver by the group name inside each frame, so even a hash collision could not misdeliver.
        return "h." + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(group)));
    }
}
