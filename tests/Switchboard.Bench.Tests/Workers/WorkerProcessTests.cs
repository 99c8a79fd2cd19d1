using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Tests.Workers;

/// <summary>What a worker process is started with.</summary>
public sealed class WorkerProcessTests
{
    [Fact]
    public async Task AWorkerProcess_RunsItsSocketContinuationsInline_UnlessTheBenchsEnvironmentSaysOtherwise()
    {
        var expected = Environment.GetEnvironmentVariable(WorkerProcess.InlineCompletionsVariable) ?? "1";
        await using var worker = WorkerProcess.Start(0);

        // The variable is read by the runtime at start, so the process's own environment is what counts.
        var environment = (await File.ReadAllTextAsync($"/proc/{worker.ProcessId}/environ")).Split('\0');

        environment.ShouldContain($"{WorkerProcess.InlineCompletionsVariable}={expected}");
    }
}
