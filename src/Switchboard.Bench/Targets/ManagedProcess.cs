using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Switchboard.Bench.Targets;

/// <summary>A child process whose output lines are kept, that can be waited on for a line and stopped gracefully.</summary>
internal sealed class ManagedProcess : IAsyncDisposable
{
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly SemaphoreSlim _newLine = new(0);

    private ManagedProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ManagedProcess Start(string name, ProcessStartInfo info, IReadOnlyDictionary<string, string>? environment = null)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {name}.");
        return new ManagedProcess(name, process);
    }

    /// <summary>Waits for the first output line matching <paramref name="match"/>; fails with the output if the process exits or time runs out.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (_lines)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }
            }
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode}: {Tail()}");
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{Name} did not get ready within {timeout.TotalSeconds:0} s: {Tail()}");
            }
            await _newLine.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The last lines of output, for error messages.</summary>
    public string Tail(int lines = 8)
    {
        lock (_lines)
        {
            return string.Join(" | ", _lines.TakeLast(lines));
        }
    }

    /// <summary>The kept output lines that match <paramref name="match"/> (the first lines and the most recent ones of a long run).</summary>
    public IReadOnlyList<string> Lines(Func<string, bool> match)
    {
        lock (_lines)
        {
            return [.. _lines.Where(match)];
        }
    }

    /// <summary>SIGKILL: the process gets no chance to say goodbye.</summary>
    public void KillHard() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM, then SIGKILL if it has not exited within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }
        if (OperatingSystem.IsLinux())
        {
            _ = Kill(_process.Id, SigTerm);
        }
        else
        {
            _process.Kill(entireProcessTree: true);
        }
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        _process.Dispose();
        _newLine.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lines)
        {
            // Keep the start-up lines (what WaitForLineAsync looks for) and the most recent ones, not everything a long run logs.
            if (_lines.Count > 2000)
            {
                _lines.RemoveRange(100, 1000);
            }
            _lines.Add(line);
        }
        _newLine.Release();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
