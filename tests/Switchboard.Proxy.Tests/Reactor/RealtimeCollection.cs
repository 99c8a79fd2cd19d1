namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>
/// The tests that start real-time threads run alone, after the others: such a thread goes before every other thread on
/// its core, and the kernel relay's tests wait on kernel workers of the normal scheduler.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealtimeCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "real-time threads";
}
