namespace Switchboard.Backplane;

/// <summary>What a node tells the cluster about itself every heartbeat interval.</summary>
/// <param name="NodeId">The node's id, unique in the cluster.</param>
/// <param name="Url">The public WebSocket URL clients connect to, e.g. <c>ws://127.0.0.1:7001/v1/ws</c>.</param>
/// <param name="Connections">Client connections held now.</param>
/// <param name="Capacity">The node's connection cap.</param>
/// <param name="Cpu">Process CPU use as a fraction of all cores (0–1), an exponential moving average.</param>
/// <param name="MessagesPerSecond">Messages delivered to clients per second over the last interval.</param>
/// <param name="Draining">True while the node is draining: place nothing there.</param>
/// <param name="Epoch">Changes every time the node process starts, so a restarted node's old state is replaced.</param>
/// <param name="Version">The node's software version.</param>
/// <param name="SentAt">When the node sampled these figures.</param>
/// <param name="Arrivals">
/// Connections that have come with a valid ticket since the node process started, admitted or refused; it only grows
/// within an epoch. A gateway settles one pending placement per arrival, so connections that come and go between two
/// heartbeats are not mistaken for placements still on their way. 0 from nodes that do not count them.
/// </param>
public sealed record NodeHeartbeat(
    string NodeId,
    string Url,
    int Connections,
    int Capacity,
    double Cpu,
    double MessagesPerSecond,
    bool Draining,
    long Epoch,
    string Version,
    DateTimeOffset SentAt,
    long Arrivals = 0);

/// <summary>
/// Users whose first connection on a node arrived (<see cref="Joined"/>) or whose last one left (<see cref="Left"/>);
/// or, when <see cref="IsSnapshot"/>, every user on the node, replacing what observers knew of it. Nodes send a
/// snapshot every few heartbeats, so an observer that missed deltas or evicted a live node heals on its own.
/// </summary>
/// <param name="NodeId">The node.</param>
/// <param name="Epoch">The node's epoch.</param>
/// <param name="Joined">Users now present on the node (all of them in a snapshot).</param>
/// <param name="Left">Users no longer present on the node (empty in a snapshot).</param>
/// <param name="IsSnapshot">True when <see cref="Joined"/> is the node's complete user list.</param>
public sealed record PresenceDelta(string NodeId, long Epoch, IReadOnlyList<string> Joined, IReadOnlyList<string> Left, bool IsSnapshot = false);
