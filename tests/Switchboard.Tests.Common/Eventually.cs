namespace Switchboard.Tests.Common;

/// <summary>Waiting on conditions, never on fixed sleeps; every wait has a timeout.</summary>
public static class Eventually
{
    /// <summary>The default upper bound of a wait in tests.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test with <paramref name="what"/> after the timeout.</summary>
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }
            await Task.Delay(10);
        }
    }

    /// <summary>Awaits a task with a timeout, failing with <paramref name="what"/> when it does not finish in time.</summary>
    public static async Task<T> WithTimeout<T>(this Task<T> task, string what, TimeSpan? timeout = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out waiting for: {what}");
        }
    }

    /// <summary>Awaits a task with a timeout, failing with <paramref name="what"/> when it does not finish in time.</summary>
    public static async Task WithTimeout(this Task task, string what, TimeSpan? timeout = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out waiting for: {what}");
        }
    }

    /// <summary>Awaits a value task with a timeout.</summary>
    public static Task<T> WithTimeout<T>(this ValueTask<T> task, string what, TimeSpan? timeout = null) =>
        task.AsTask().WithTimeout(what, timeout);
}
