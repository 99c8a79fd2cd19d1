using Switchboard.Bench.Reporting;
using Switchboard.Bench.Targets;

namespace Switchboard.Bench.Measurement;

/// <summary>
/// Samples the system under test's processes at the points a scenario marks: before, after connecting, while busy, and
/// at the end of an idle hold.
/// </summary>
internal sealed class ProcessWatch(IReadOnlyList<ClusterProcess> processes)
{
    private readonly Dictionary<int, ProcessSample?> _before = [];
    private readonly Dictionary<int, ProcessSample?> _after = [];
    private readonly Dictionary<int, ProcessSample?> _end = [];
    private readonly Dictionary<int, long> _peak = [];
    private readonly Dictionary<int, ProcessSample?> _busyFrom = [];
    private readonly Dictionary<int, double> _busyCores = [];
    private readonly Dictionary<int, int> _openFiles = [];
    private readonly Dictionary<int, (long Sum, int Count)> _sampled = [];

    /// <summary>CPU the processes used while busy, in cores (1.0 = one core busy); null when nothing is sampled.</summary>
    public double? BusyCores => _busyCores.Count == 0 ? null : _busyCores.Values.Sum();

    public void MarkBefore() => Mark(_before);

    public void MarkAfter()
    {
        Mark(_after);
        foreach (var p in processes)
        {
            _openFiles[p.ProcessId] = ProcessSampler.OpenFiles(p.ProcessId);
        }
    }

    public void StartBusy() => Mark(_busyFrom);

    /// <summary>The end of an idle hold: what the processes keep once the connections have sat idle for the whole hold.</summary>
    public void MarkEnd() => Mark(_end);

    public void Sample()
    {
        foreach (var p in processes)
        {
            if (ProcessSampler.Read(p.ProcessId) is { } s)
            {
                _peak[p.ProcessId] = Math.Max(_peak.GetValueOrDefault(p.ProcessId), s.RssBytes);
                var (sum, count) = _sampled.GetValueOrDefault(p.ProcessId);
                _sampled[p.ProcessId] = (sum + s.RssBytes, count + 1);
            }
        }
    }

    public void EndBusy()
    {
        foreach (var p in processes)
        {
            if (_busyFrom.GetValueOrDefault(p.ProcessId) is { } from && ProcessSampler.Read(p.ProcessId) is { } to)
            {
                _busyCores[p.ProcessId] = ProcessSampler.CoresUsed(from, to);
                _peak[p.ProcessId] = Math.Max(_peak.GetValueOrDefault(p.ProcessId), to.RssBytes);
            }
        }
    }

    /// <summary>
    /// CPU time each process used from <see cref="MarkBefore"/> to <see cref="MarkAfter"/> (the connect phase), by
    /// process name; processes not read at both marks are left out.
    /// </summary>
    public IReadOnlyList<(string Name, TimeSpan Cpu)> CpuBeforeToAfter() =>
        [.. processes.Select(p => (p.Name, Cpu: CpuBeforeToAfter(p.ProcessId))).Where(p => p.Cpu is not null).Select(p => (p.Name, p.Cpu!.Value))];

    /// <summary>
    /// Resident memory the processes added from <see cref="MarkBefore"/> to <see cref="MarkAfter"/>, all together; null
    /// when one of them was not read at both marks.
    /// </summary>
    public long? RssGrowthBeforeToAfter()
    {
        long sum = 0;
        foreach (var p in processes)
        {
            if (_before.GetValueOrDefault(p.ProcessId) is not { } before || _after.GetValueOrDefault(p.ProcessId) is not { } after)
            {
                return null;
            }
            sum += after.RssBytes - before.RssBytes;
        }
        return sum;
    }

    private TimeSpan? CpuBeforeToAfter(int processId) =>
        _before.GetValueOrDefault(processId) is { } before && _after.GetValueOrDefault(processId) is { } after ? after.CpuTime - before.CpuTime : null;

    /// <summary>The mean of a process's RSS over the samples taken while busy (once a second), or null without any.</summary>
    public double? MeanRssBytes(int processId) =>
        _sampled.TryGetValue(processId, out var sampled) && sampled.Count > 0 ? (double)sampled.Sum / sampled.Count : null;

    /// <summary>One row per process; <paramref name="connections"/> says how many connections each one held.</summary>
    public List<ProcessFigures> Figures(Func<ClusterProcess, int> connections) =>
        [.. processes.Select(p => new ProcessFigures(
            p.Name,
            p.ProcessId,
            connections(p),
            _before.GetValueOrDefault(p.ProcessId)?.RssBytes ?? 0,
            _after.GetValueOrDefault(p.ProcessId)?.RssBytes ?? 0,
            _peak.GetValueOrDefault(p.ProcessId),
            _busyCores.GetValueOrDefault(p.ProcessId),
            _openFiles.GetValueOrDefault(p.ProcessId, -1),
            _end.GetValueOrDefault(p.ProcessId)?.RssBytes,
            _before.GetValueOrDefault(p.ProcessId)?.AnonBytes,
            _end.GetValueOrDefault(p.ProcessId)?.AnonBytes,
            CpuBeforeToAfter(p.ProcessId)))];

    private void Mark(Dictionary<int, ProcessSample?> into)
    {
        foreach (var p in processes)
        {
            var sample = ProcessSampler.Read(p.ProcessId);
            into[p.ProcessId] = sample;
            if (sample is not null)
            {
                _peak[p.ProcessId] = Math.Max(_peak.GetValueOrDefault(p.ProcessId), sample.RssBytes);
            }
        }
    }
}
