using System.Globalization;

namespace Switchboard.Bench.Measurement;

/// <summary>Reads a process's resident memory and CPU time from <c>/proc</c> (Linux).</summary>
public static class ProcessSampler
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux the bench runs on.
    private const double TicksPerSecond = 100;

    /// <summary>One reading, or null when the process is gone or <c>/proc</c> is not there.</summary>
    public static ProcessSample? Read(int pid)
    {
        try
        {
            long rssKb = 0, anonKb = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rssKb = Kilobytes(line, "VmRSS:");
                }
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                {
                    anonKb = Kilobytes(line, "RssAnon:");
                    break;
                }
            }
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var cpuTicks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return new ProcessSample(rssKb * 1024, TimeSpan.FromSeconds(cpuTicks / TicksPerSecond), DateTimeOffset.UtcNow, anonKb * 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static long Kilobytes(string line, string field) =>
        long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);

    /// <summary>Open file descriptors of a process, or -1 when it cannot be read.</summary>
    public static int OpenFiles(int pid)
    {
        try
        {
            return Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>CPU used between two readings, as a share of one core (1.0 = one core busy).</summary>
    public static double CoresUsed(ProcessSample from, ProcessSample to)
    {
        var wall = (to.At - from.At).TotalSeconds;
        return wall <= 0 ? 0 : (to.CpuTime - from.CpuTime).TotalSeconds / wall;
    }
}

/// <summary>
/// A process's resident set size, CPU time used so far and when they were read; <see cref="AnonBytes"/> is the anonymous
/// part of the RSS (heap and native allocations, without the code and files mapped from disk or the JIT's shared mappings).
/// </summary>
public sealed record ProcessSample(long RssBytes, TimeSpan CpuTime, DateTimeOffset At, long AnonBytes = 0);
