using Switchboard.Backplane;
using Switchboard.Gateway.Placement;

namespace Switchboard.Gateway.Tests.Placement;

internal static class Candidates
{
    public static NodeCandidate Candidate(string id, int connections = 0, int capacity = 100, double cpu = 0, int pending = 0, double? score = null) =>
        new(Heartbeat(id, connections, capacity, cpu), pending,
            score ?? new LoadScorer(0.7, 0.3).Score(connections + pending, capacity, cpu));

    public static NodeHeartbeat Heartbeat(string id, int connections = 0, int capacity = 100, double cpu = 0, bool draining = false, long epoch = 1,
        long arrivals = 0) =>
        new(id, $"ws://{id}.test/v1/ws", connections, capacity, cpu, 0, draining, epoch, "test", DateTimeOffset.UnixEpoch, arrivals);

    public static readonly PlacementRequest Request = new("alice");
}
