using System.Collections.Concurrent;

namespace Switchboard.Backplane.Tests;

/// <summary>A cluster observer that records the control stream; callbacks may come from any thread.</summary>
internal sealed class RecordingObserver : IClusterObserver
{
    public ConcurrentQueue<NodeHeartbeat> Heartbeats { get; } = new();

    public ConcurrentQueue<PresenceDelta> Presence { get; } = new();

    public ConcurrentQueue<(string NodeId, long Epoch)> NodesLeft { get; } = new();

    public void OnHeartbeat(NodeHeartbeat heartbeat) => Heartbeats.Enqueue(heartbeat);

    public void OnPresence(PresenceDelta delta) => Presence.Enqueue(delta);

    public void OnNodeLeft(string nodeId, long epoch) => NodesLeft.Enqueue((nodeId, epoch));
}
