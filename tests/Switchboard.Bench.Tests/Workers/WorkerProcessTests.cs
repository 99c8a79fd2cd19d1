using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Tests.Workers;

/// <summary>What a worker process is started with.</summary>
public sealed class WorkerProcessTests
{
    [Fact]
    public async Task AConnectingWorker_RunsItsSocketContinuationsInline_UnlessTheBenchsEnvironmentSaysOtherwise()
    {
        var expected = Environment.GetEnvironmentVariable(WorkerProcess.InlineCompletionsVariable) ?? "1";
        await using var worker = WorkerProcess.Start(0, inlineCompletions: true);

        (await EnvironmentOf(worker)).ShouldContain($"{WorkerProcess.InlineCompletionsVariable}={expected}");
    }

    [Fact]
    public async Task ATrafficWorker_KeepsTheThreadPoolHop()
    {
        await using var worker = WorkerProcess.Start(0);

        (await EnvironmentOf(worker)).ShouldNotContain($"{WorkerProcess.InlineCompletionsVariable}=1");
    }

    // The variable is read by the runtime at start, so the process's own environment is what counts.
    private static async Task<string[]> EnvironmentOf(WorkerProcess worker) =>
        (await File.ReadAllTextAsync($"/proc/{worker.ProcessId}/environ")).Split('\0');
}
