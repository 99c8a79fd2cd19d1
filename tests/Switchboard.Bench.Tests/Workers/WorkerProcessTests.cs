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
        // Unless the bench's own environment asks for inline completions, which a worker inherits as any variable.
        var inherited = Environment.GetEnvironmentVariable(WorkerProcess.InlineCompletionsVariable);
        await using var worker = WorkerProcess.Start(0);

        var environment = await EnvironmentOf(worker);

        if (inherited is null)
        {
            environment.ShouldNotContain(v => v.StartsWith(WorkerProcess.InlineCompletionsVariable + "=", StringComparison.Ordinal));
        }
        else
        {
            environment.ShouldContain($"{WorkerProcess.InlineCompletionsVariable}={inherited}");
        }
    }

    [Fact]
    public async Task EveryWorker_LeavesOutHttpClientsTracingHandler_UnlessTheBenchsEnvironmentSaysOtherwise()
    {
        var expected = Environment.GetEnvironmentVariable(WorkerProcess.ActivityPropagationVariable) ?? "false";
        await using var connecting = WorkerProcess.Start(0, inlineCompletions: true);
        await using var traffic = WorkerProcess.Start(1);

        (await EnvironmentOf(connecting)).ShouldContain($"{WorkerProcess.ActivityPropagationVariable}={expected}");
        (await EnvironmentOf(traffic)).ShouldContain($"{WorkerProcess.ActivityPropagationVariable}={expected}");
    }

    // The variable is read by the runtime at start, so the process's own environment is what counts.
    private static async Task<string[]> EnvironmentOf(WorkerProcess worker) =>
        (await File.ReadAllTextAsync($"/proc/{worker.ProcessId}/environ")).Split('\0');
}
