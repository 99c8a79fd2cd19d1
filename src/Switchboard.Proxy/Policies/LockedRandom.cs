namespace Switchboard.Proxy.Policies;

/// <summary>An injected <see cref="Random"/> made safe for concurrent accepts (tests pass a seeded one).</summary>
internal sealed class LockedRandom(Random random)
{
    private readonly Lock _lock = new();

    public int Next(int maxValue)
    {
        if (ReferenceEquals(random, Random.Shared))
        {
            return Random.Shared.Next(maxValue);
        }
        lock (_lock)
        {
            return random.Next(maxValue);
        }
    }
}
