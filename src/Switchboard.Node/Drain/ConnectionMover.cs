using System.Net.WebSockets;
using Switchboard.Node.Connections;
using Switchboard.Protocol;

namespace Switchboard.Node.Drain;

/// <summary>
/// Asks connections to move to another node: a <c>reconnect</c> frame each, in batches every ~100 ms with jitter, at
/// <see cref="NodeOptions.DrainRatePerSecond"/> on average, so the rest of the cluster takes them in gradually. A client
/// that has not gone within <see cref="NodeOptions.CloseTimeout"/> is closed with 1012; either way its session stays
/// resumable for <see cref="NodeOptions.SessionGraceTime"/>.
/// </summary>
internal sealed class ConnectionMover(NodeOptions options, TimeProvider time, Random random)
{
    private static readonly TimeSpan BatchInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Connections per batch at the configured rate (at least one).</summary>
    public int BatchSize => Math.Max(1, (int)Math.Ceiling(options.DrainRatePerSecond * BatchInterval.TotalSeconds));

    /// <summary>Asks each of <paramref name="connections"/> to move, paced; returns when the last batch has been asked.</summary>
    public async Task MoveAsync(IReadOnlyList<ClientConnection> connections, string reason, CancellationToken cancellationToken)
    {
        var frame = ServerFrames.Reconnect(reason);
        for (var start = 0; start < connections.Count; start += BatchSize)
        {
            if (start > 0)
            {
                // Jitter spreads the reconnects of many draining nodes (and the gateway's placements) over time.
                await Task.Delay(BatchInterval * (0.5 + random.NextDouble()), time, cancellationToken).ConfigureAwait(false);
            }
            for (var i = start; i < Math.Min(start + BatchSize, connections.Count); i++)
            {
                Ask(connections[i], frame);
            }
        }
    }

    private void Ask(ClientConnection connection, byte[] frame)
    {
        if (connection.ClosedBecause is not null || connection.Mode != ClientConnection.SessionMode.Live)
        {
            return;
        }
        connection.Moving = true;
        connection.TryEnqueue(frame);
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            timer?.Dispose();
            connection.RequestClose(CloseReason.NodeShutdown, (WebSocketCloseStatus)CloseCodes.ServiceRestart,
                "node draining: reconnect through the gateway and resume", flush: true);
        }, null, options.CloseTimeout, Timeout.InfiniteTimeSpan);
    }
}
