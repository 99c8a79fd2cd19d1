using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// <c>process</c>: scale-up starts <c>switchboard node --node-id autoscaled-N --port 0</c> child processes that join
/// the same broker; scale-down has nothing left to do, since the drained nodes exit on their own. The children are
/// killed when the provisioner is disposed (the gateway stops), so none outlive it.
/// </summary>
internal sealed class ProcessProvisioner(ProcessProvisionerOptions options, ILogger logger) : IProvisioner, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<(string NodeId, Process Process)> _children = [];
    private readonly HashSet<string> _joined = new(StringComparer.Ordinal);
    private int _started;

    public string Name => Provisioners.Process;

    /// <summary>The ids of the child processes still running.</summary>
    public IReadOnlyList<string> Running
    {
        get
        {
            lock (_lock)
            {
                return _children.Where(c => !c.Process.HasExited).Select(c => c.NodeId).ToArray();
            }
        }
    }

    public Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default)
    {
        Reap();
        // A child that has not shown up among the ready nodes yet is still starting: it counts towards the desired
        // count, so a slow start does not make the next scale-up start another one.
        int starting;
        lock (_lock)
        {
            _joined.UnionWith(request.Nodes);
            starting = _children.Count(c => !c.Process.HasExited && !_joined.Contains(c.NodeId));
        }
        for (var i = request.Current + starting; i < request.Desired; i++)
        {
            Start();
        }
        return Task.CompletedTask;
    }

    private void Start()
    {
        var nodeId = options.NodeIdPrefix + Interlocked.Increment(ref _started);
        var info = new ProcessStartInfo(options.Executable!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in options.Arguments.Concat(["node", "--node-id", nodeId, "--port", "0"]).Concat(options.NodeArguments))
        {
            info.ArgumentList.Add(argument);
        }
        // Secrets go in the environment, not on a command line every user of the machine can read.
        if (options.BackplaneUrl is { } url)
        {
            info.Environment["SWITCHBOARD__Backplane__Url"] = url;
        }
        if (options.ClusterSecret is { } secret)
        {
            info.Environment["SWITCHBOARD__Cluster__Secret"] = secret;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Output(nodeId, e.Data);
        process.ErrorDataReceived += (_, e) => Output(nodeId, e.Data);
        process.Exited += (_, _) => logger.NodeProcessExited(nodeId, process.ExitCode);
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new ProvisionerException($"could not start {options.Executable}: {e.Message}", e);
        }
        // Read both streams so a chatty child never blocks on a full pipe.
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_lock)
        {
            _children.Add((nodeId, process));
        }
        logger.NodeProcessStarted(nodeId, process.Id);
    }

    private void Output(string nodeId, string? line)
    {
        if (line is not null)
        {
            logger.NodeProcessOutput(nodeId, line);
        }
    }

    private void Reap()
    {
        lock (_lock)
        {
            foreach (var child in _children.Where(c => c.Process.HasExited).ToList())
            {
                child.Process.Dispose();
                _children.Remove(child);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<(string NodeId, Process Process)> children;
        lock (_lock)
        {
            children = [.. _children];
            _children.Clear();
        }
        foreach (var (_, process) in children)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                // Already gone, or not reaped in time: nothing more to do.
            }
            process.Dispose();
        }
    }
}
