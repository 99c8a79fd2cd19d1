namespace Switchboard.Security.Tests;

internal static class Timeouts
{
    /// <summary>Every await in a test has a timeout (this project does not reference Tests.Common).</summary>
    public static Task<T> WithTimeout<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
}
