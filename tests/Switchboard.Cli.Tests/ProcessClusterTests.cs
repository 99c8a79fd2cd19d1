using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>
/// What the tests of separate <c>switchboard</c> processes on a real broker share: everything they start is owned by
/// the test and disposed in reverse order afterwards, each within a minute.
/// </summary>
public abstract class ProcessClusterTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_cleanup))
        {
            await item.DisposeAsync().AsTask().WithTimeout("cleanup", TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>Awaits <paramref name="start"/> and disposes what it gives after the test.</summary>
    private protected async Task<T> Own<T>(Task<T> start)
        where T : IAsyncDisposable
    {
        var item = await start;
        _cleanup.Add(item);
        return item;
    }

    /// <summary>Disposes <paramref name="item"/> after the test.</summary>
    private protected T Own<T>(T item)
        where T : IAsyncDisposable
    {
        _cleanup.Add(item);
        return item;
    }

    /// <summary>A process cluster (nothing started yet) on the shared test broker, both owned by the test.</summary>
    private protected async Task<ProcessCluster> NewClusterAsync()
    {
        var broker = await Own(RabbitMqBroker.StartOrShareAsync());
        return Own(new ProcessCluster(broker.Url));
    }
}
