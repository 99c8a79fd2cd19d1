using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary>The built <c>switchboard</c> program run as a real child process, with its output captured line by line.</summary>
internal sealed partial class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();

    private CliProcess(Process process) => _process = process;

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>dotnet switchboard.dll</c> with <paramref name="arguments"/> from the CLI project's build output.</summary>
    public static CliProcess Start(params string[] arguments) => Start(new Dictionary<string, string>(), arguments);

    /// <summary>Starts the program with extra environment variables.</summary>
    public static CliProcess Start(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        LetChildrenHearCtrlC();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ProgramPath());
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = info };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, e) => cli.Add(e.Data);
        process.ErrorDataReceived += (_, e) => cli.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Runs a command to completion and returns its exit code and output.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(params string[] arguments) => RunAsync(new Dictionary<string, string>(), arguments);

    /// <summary>Runs a command with extra environment variables to completion.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        await using var cli = Start(environment, arguments);
        await cli.WaitForExitAsync("the command to finish");
        return (cli.ExitCode, cli.Output);
    }

    public Task WaitForLineAsync(Func<string, bool> predicate, string what) =>
        Eventually.TrueAsync(() =>
        {
            lock (_lock)
            {
                return _lines.Any(predicate) || _process.HasExited;
            }
        }, what, TimeSpan.FromSeconds(60)).ContinueWith(t =>
        {
            t.GetAwaiter().GetResult();
            lock (_lock)
            {
                if (!_lines.Any(predicate))
                {
                    throw new InvalidOperationException($"The process exited before {what}:\n{string.Join('\n', _lines)}");
                }
            }
        });

    public string Line(Func<string, bool> predicate)
    {
        lock (_lock)
        {
            return _lines.First(predicate);
        }
    }

    public Task WaitForExitAsync(string what) => _process.WaitForExitAsync().WithTimeout(what, TimeSpan.FromSeconds(60));

    /// <summary>Sends SIGKILL: the process ends at once, without running any shutdown code.</summary>
    public void KillHard() => _process.Kill();

    /// <summary>Sends SIGHUP, which asks <c>switchboard proxy</c> to reload its configuration.</summary>
    public void Hangup() => Kill(_process.Id, 1).ShouldBe(0);

    /// <summary>Sends SIGINT, as Ctrl+C in a terminal does.</summary>
    public void Interrupt()
    {
        // A process started with SIGINT ignored (the tests run as a background job of a shell without job control)
        // keeps it ignored, as the runtime leaves an inherited SIG_IGN alone: say so rather than time out.
        SigIntIgnored(_process.Id).ShouldBeFalse("SIGINT is ignored in the process (inherited from the shell that started the tests), so Ctrl+C cannot be tested here");
        Kill(_process.Id, 2).ShouldBe(0);
    }

    /// <summary>
    /// Started as a background job of a shell without job control, the tests inherit SIGINT ignored, and so would every
    /// process they start (the runtime leaves an inherited SIG_IGN alone). Set back to the default here, it is what
    /// the children get, so the Ctrl+C tests test the program wherever the tests run. It is the test host's own too:
    /// a SIGINT then ends the host, as it would have without the shell's ignore.
    /// </summary>
    private static void LetChildrenHearCtrlC()
    {
        if (SigIntIgnored(Environment.ProcessId))
        {
            Signal(2, 0); // SIG_DFL
        }
    }

    private static bool SigIntIgnored(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }

    /// <summary>SIGTERM, as a process manager (systemd, Kubernetes) stops a process.</summary>
    public void Terminate() => Kill(_process.Id, 15).ShouldBe(0);

    /// <summary>Sends SIGSTOP: the process stops running, as in a long GC pause or on starved cores, but keeps its sockets.</summary>
    public void Pause() => Kill(_process.Id, 19).ShouldBe(0);

    /// <summary>Sends SIGCONT: a paused process runs again.</summary>
    public void Resume() => Kill(_process.Id, 18).ShouldBe(0);

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    /// <summary>A base port with <paramref name="count"/> free ports from it on loopback.</summary>
    public static int FreePortRange(int count)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var start = Random.Shared.Next(20_000, 40_000);
            var listeners = new List<TcpListener>();
            try
            {
                for (var port = start; port < start + count; port++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listeners.Add(listener);
                }
                return start;
            }
            catch (SocketException)
            {
            }
            finally
            {
                listeners.ForEach(l => l.Stop());
            }
        }
        throw new InvalidOperationException("No free port range on loopback.");
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lock)
        {
            _lines.Add(line);
        }
    }

    private static string ProgramPath()
    {
        // The test's own build output holds the referenced program, configured like the test (Debug or Release).
        var path = Path.Combine(AppContext.BaseDirectory, "switchboard.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("switchboard.dll is not beside the tests", path);
    }

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
