using System.Diagnostics;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Scenarios;

/// <summary>
/// The drain and failover scenarios' stopwatch: after a warm-up it picks the node holding the most clients, has it
/// drained (or killed), and follows the clients until every one of them is open again on another node — or, behind a
/// failover-mode proxy, until the proxies have carried every one of their sessions on (<paramref name="carriedOn"/>: the
/// proxies' count of such moves), since those clients never see a move.
/// </summary>
internal sealed class MoveWatch(TimeSpan warmUp, Func<string, Task> trigger, Func<Task<long>>? carriedOn = null)
{
    private long _carriedBefore;

    private readonly Queue<(long At, long Moves)> _recent = new();
    private long _triggeredAt;
    private long _movesBefore;
    private int _openBefore;

    /// <summary>The node drained or killed.</summary>
    public string? Victim { get; private set; }

    /// <summary>The bench's clients on it when it was picked.</summary>
    public int VictimClients { get; private set; }

    /// <summary>Seconds from the drain or kill until every client was open again elsewhere; null while some are not.</summary>
    public double? RehomedAfter { get; private set; }

    /// <summary>The most moves completed within any one second.</summary>
    public long PeakMovesPerSecond { get; private set; }

    public bool Triggered => Victim is not null;

    /// <summary>Moves completed since the trigger.</summary>
    public long Moves { get; private set; }

    /// <summary>Sessions the proxies carried onto another node since the trigger (failover mode), or null without such proxies.</summary>
    public long? CarriedOn { get; private set; }

    /// <summary>Called about four times a second while traffic runs.</summary>
    public async Task TickAsync(WorkerProgress now, TimeSpan elapsed)
    {
        if (!Triggered)
        {
            if (elapsed < warmUp || now.ByNode is not { Count: > 1 } byNode)
            {
                return;
            }
            var (node, count) = byNode.MaxBy(n => n.Value);
            Victim = node;
            VictimClients = count;
            _movesBefore = now.Moves;
            _openBefore = now.Open;
            _carriedBefore = carriedOn is null ? 0 : await carriedOn().ConfigureAwait(false);
            _triggeredAt = Stopwatch.GetTimestamp();
            await trigger(node).ConfigureAwait(false);
            return;
        }
        var at = Stopwatch.GetTimestamp();
        Moves = now.Moves - _movesBefore;
        _recent.Enqueue((at, now.Moves));
        while (_recent.Count > 1 && Stopwatch.GetElapsedTime(_recent.Peek().At, at) > TimeSpan.FromSeconds(1))
        {
            _recent.Dequeue();
        }
        PeakMovesPerSecond = Math.Max(PeakMovesPerSecond, now.Moves - _recent.Peek().Moves);
        if (carriedOn is not null)
        {
            CarriedOn = await carriedOn().ConfigureAwait(false) - _carriedBefore;
        }
        var back = CarriedOn is { } carried
            ? carried >= VictimClients
            : (now.ByNode?.GetValueOrDefault(Victim!) ?? 0) == 0;
        if (RehomedAfter is null && back && now.Open >= _openBefore)
        {
            RehomedAfter = Stopwatch.GetElapsedTime(_triggeredAt).TotalSeconds;
        }
    }
}
