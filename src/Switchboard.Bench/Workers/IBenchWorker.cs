namespace Switchboard.Bench.Workers;

/// <summary>
/// A share of the bench's clients, in this process or in a worker process of its own (each process stays well under
/// the open-file limit). The coordinator drives every worker through the same phases.
/// </summary>
internal interface IBenchWorker : IAsyncDisposable
{
    /// <summary>Opens and closes throwaway clients for a while; nothing it does is measured.</summary>
    Task<WarmUpReport> WarmUpAsync(WarmUpOrder order, CancellationToken cancellationToken);

    /// <summary>Opens clients; failures are counted by reason, never thrown.</summary>
    Task<ConnectReport> ConnectAsync(ConnectOrder order, CancellationToken cancellationToken);

    /// <summary>Makes the listed clients (those this worker holds) join a group.</summary>
    Task JoinAsync(JoinOrder order, CancellationToken cancellationToken);

    /// <summary>Starts the senders this worker holds and returns at once.</summary>
    Task StartTrafficAsync(TrafficOrder order, CancellationToken cancellationToken);

    /// <summary>Stops the senders; messages already sent are still counted when they arrive.</summary>
    Task StopTrafficAsync(CancellationToken cancellationToken);

    /// <summary>Starts message latency afresh: what was recorded so far was the warm-up.</summary>
    Task ResetLatencyAsync(CancellationToken cancellationToken);

    /// <summary>The running totals.</summary>
    Task<WorkerProgress> ProgressAsync(CancellationToken cancellationToken);

    /// <summary>Everything measured so far.</summary>
    Task<WorkerResult> ResultAsync(CancellationToken cancellationToken);

    /// <summary>Closes every client normally.</summary>
    Task CloseAsync(CancellationToken cancellationToken);
}
