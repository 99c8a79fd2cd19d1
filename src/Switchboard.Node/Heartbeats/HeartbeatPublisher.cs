using Microsoft.Extensions.Logging;
using Switchboard.Backplane;

namespace Switchboard.Node.Heartbeats;

/// <summary>
/// Publishes the node's heartbeat at once and then every <see cref="NodeOptions.HeartbeatInterval"/>, and a
/// presence snapshot every <see cref="NodeOptions.PresenceSnapshotEvery"/> heartbeats and after a failed heartbeat.
/// </summary>
internal sealed class HeartbeatPublisher(
    IBackplane backplane, Func<NodeHeartbeat> sample, Func<CancellationToken, Task> publishSnapshot, int snapshotEvery,
    TimeSpan interval, TimeProvider time, ILogger logger, string nodeId)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public void Start() => _loop = RunAsync();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(interval, time);
        var failing = false;
        var beat = 0L;
        do
        {
            try
            {
                await backplane.PublishHeartbeatAsync(sample(), _stop.Token).ConfigureAwait(false);
                // After an outage observers may have evicted this node: tell them its users now, not a few beats later.
                if (++beat % snapshotEvery == 0 || failing)
                {
                    await publishSnapshot(_stop.Token).ConfigureAwait(false);
                }
                failing = false;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Logged once per outage, not once per beat.
                if (!failing)
                {
                    // An unreachable backplane is expected and explained by its own log; anything else gets its stack trace.
                    NodeLog.HeartbeatFailed(logger, nodeId, e.Message, e is BackplaneUnavailableException ? null : e);
                }
                failing = true;
            }
        }
        while (await WaitAsync(timer).ConfigureAwait(false));
    }

    private async ValueTask<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
