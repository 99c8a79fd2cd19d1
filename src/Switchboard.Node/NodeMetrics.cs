using System.Diagnostics.Metrics;
using Switchboard.Node.Connections;

namespace Switchboard.Node;

/// <summary>The node's instruments (meter <c>Switchboard.Node</c>); tags on an increment match its decrement.</summary>
public sealed class NodeMetrics
{
    /// <summary>The meter name to listen to.</summary>
    public const string MeterName = "Switchboard.Node";

    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _disconnects;
    private readonly Counter<long> _messagesDelivered;
    private readonly Counter<long> _connectionsRefused;
    private readonly Counter<long> _repeatsDropped;
    private readonly Counter<long> _idleTrims;
    private readonly Counter<long> _idleTrimmedBytes;

    /// <summary>Creates the instruments from a meter factory (one meter per node process).</summary>
    public NodeMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _connections = meter.CreateUpDownCounter<long>("switchboard.node.connections", "{connection}", "Client connections held");
        _disconnects = meter.CreateCounter<long>("switchboard.node.disconnects", "{connection}", "Connections ended, by reason");
        _messagesDelivered = meter.CreateCounter<long>("switchboard.node.messages.delivered", "{message}", "Message frames written to clients");
        _connectionsRefused = meter.CreateCounter<long>("switchboard.node.connections.refused", "{connection}", "Connections refused at the handshake, by reason");
        _repeatsDropped = meter.CreateCounter<long>("switchboard.node.messages.repeats", "{message}", "Repeats of keyed sends dropped (a send carried out twice, Node:RepeatWindow)");
        _idleTrims = meter.CreateCounter<long>("switchboard.node.memory.trims", "{trim}", "Idle trims run (Node:IdleTrim)");
        _idleTrimmedBytes = meter.CreateCounter<long>("switchboard.node.memory.trimmed", "By", "Resident memory the idle trims gave back");
    }

    internal void ConnectionOpened(string nodeId) => _connections.Add(1, new KeyValuePair<string, object?>("node", nodeId));

    internal void ConnectionClosed(string nodeId, CloseReason reason)
    {
        _connections.Add(-1, new KeyValuePair<string, object?>("node", nodeId));
        _disconnects.Add(1, new KeyValuePair<string, object?>("node", nodeId), new KeyValuePair<string, object?>("reason", reason.ToString()));
    }

    internal void MessageDelivered(string nodeId) => _messagesDelivered.Add(1, new KeyValuePair<string, object?>("node", nodeId));

    internal void RepeatDropped(string nodeId) => _repeatsDropped.Add(1, new KeyValuePair<string, object?>("node", nodeId));

    internal void ConnectionRefused(string nodeId, string reason) =>
        _connectionsRefused.Add(1, new KeyValuePair<string, object?>("node", nodeId), new KeyValuePair<string, object?>("reason", reason));

    internal void IdleTrimmed(string nodeId, long rssGivenBack)
    {
        var node = new KeyValuePair<string, object?>("node", nodeId);
        _idleTrims.Add(1, node);
        // A counter only goes up: a trim that gave nothing back (or during which the process grew) adds nothing.
        _idleTrimmedBytes.Add(Math.Max(0, rssGivenBack), node);
    }
}
