namespace Switchboard.Bench.Proxying;

/// <summary>
/// The order of a <c>--proxy --rounds N</c> run: every path once per round, round 1 in the given order, round 2 in
/// reverse, round 3 in the given order again, and so on.
/// </summary>
internal static class ProxyRounds
{
    /// <summary>The paths in the order round <paramref name="round"/> (from 1) takes them.</summary>
    public static IReadOnlyList<string> Order(IReadOnlyList<string> paths, int round)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(round, 1);
        // Alternating cancels order effects: a machine that warms up (or a neighbour that gets busy) over the run
        // would otherwise always favour the path that goes first.
        return round % 2 == 1 ? paths : [.. paths.Reverse()];
    }

    /// <summary>Every run of <paramref name="rounds"/> rounds, in the order they are made.</summary>
    public static IEnumerable<(int Round, string Path)> Schedule(IReadOnlyList<string> paths, int rounds) =>
        Enumerable.Range(1, rounds).SelectMany(round => Order(paths, round).Select(path => (round, path)));
}
