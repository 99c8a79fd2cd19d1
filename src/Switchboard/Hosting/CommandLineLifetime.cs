using Microsoft.Extensions.Hosting;

namespace Switchboard.Hosting;

/// <summary>
/// A host lifetime that leaves Ctrl+C and SIGTERM to the command line: the command decides what a signal means (a node
/// drains on SIGTERM before it stops) and stops the host itself. The default console lifetime would also react to the
/// signal and race the command, stopping a node outright while it should drain.
/// </summary>
internal sealed class CommandLineLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
