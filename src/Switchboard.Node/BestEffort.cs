namespace Switchboard.Node;

/// <summary>Backplane calls whose failure must not fail the caller: silence from a node ends in eviction by heartbeat timeout anyway.</summary>
internal static class BestEffort
{
    public static async Task RunAsync(Func<ValueTask> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Deliberately swallowed; see the class summary.
        }
    }
}
