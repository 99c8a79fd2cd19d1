namespace Switchboard.Proxy.Tests.Hosting;

/// <summary>
/// Tests that wait for the whole process to go quiet (the idle trimmer counts every allocation of the process) run
/// alone, after the others: the failover tests that stream megabytes would otherwise keep it busy past any timeout.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QuietProcessCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "quiet process";
}
