namespace Switchboard.Bench.Tests.EndToEnd;

/// <summary>
/// The benches against real clusters run one at a time: each loads both cores, and side by side they measure each
/// other (the drain test once lost 70 messages while the proxy test's dozen processes ran beside it).
/// </summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "bench end to end";
}
