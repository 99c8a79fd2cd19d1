namespace Switchboard.Backplane.Tests;

internal static class TestData
{
    public static NodeHeartbeat Heartbeat(string nodeId, long epoch = 1, int connections = 0, DateTimeOffset? sentAt = null) =>
        new(nodeId, $"ws://127.0.0.1:7001/v1/ws#{nodeId}", connections, Capacity: 10_000, Cpu: 0.25, MessagesPerSecond: 12.5,
            Draining: false, epoch, Version: "1.0.0-test", sentAt ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public static PresenceDelta Joined(string nodeId, long epoch, params string[] users) => new(nodeId, epoch, users, []);

    public static PresenceDelta Left(string nodeId, long epoch, params string[] users) => new(nodeId, epoch, [], users);
}
