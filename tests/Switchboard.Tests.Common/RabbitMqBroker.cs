using System.Diagnostics;

namespace Switchboard.Tests.Common;

/// <summary>
/// A private RabbitMQ broker for tests, run by the project's <c>scripts/rabbitmq.sh</c> under its own temp folder.
/// It can be stopped and started again on the same port, to test how nodes survive losing the broker.
/// </summary>
public sealed class RabbitMqBroker : IAsyncDisposable
{
    /// <summary>Set by CI (or a developer) to a running broker that tests which do not restart it may share.</summary>
    public const string SharedUrlVariable = "SWITCHBOARD_TEST_AMQP";

    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);
    private readonly string _folder;

    private RabbitMqBroker(string folder, Uri url, bool owned)
    {
        _folder = folder;
        Url = url;
        Owned = owned;
    }

    /// <summary>The broker's amqp:// URL.</summary>
    public Uri Url { get; }

    /// <summary>False for the shared broker named by <see cref="SharedUrlVariable"/>, which tests must not stop.</summary>
    public bool Owned { get; }

    /// <summary>Starts a private broker (installing rabbitmq-server first when missing and allowed).</summary>
    public static async Task<RabbitMqBroker> StartAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"switchboard-rabbit-{Guid.NewGuid():N}");
        var output = await RunScriptAsync("start", folder);
        return new RabbitMqBroker(folder, new Uri(output.Trim().Split('\n')[^1]), owned: true);
    }

    /// <summary>The broker named by <see cref="SharedUrlVariable"/> when set, else a private one.</summary>
    public static async Task<RabbitMqBroker> StartOrShareAsync() =>
        Environment.GetEnvironmentVariable(SharedUrlVariable) is { Length: > 0 } shared
            ? new RabbitMqBroker(string.Empty, new Uri(shared), owned: false)
            : await StartAsync();

    /// <summary>Stops the broker (its clients see the connection drop); <see cref="StartAgainAsync"/> brings it back on the same port.</summary>
    public Task StopAsync() => Owned ? RunScriptAsync("stop", _folder) : throw new InvalidOperationException("The shared broker cannot be stopped by a test.");

    /// <summary>Starts a stopped broker again, on the same port and URL.</summary>
    public Task StartAgainAsync() => Owned ? RunScriptAsync("start", _folder) : throw new InvalidOperationException("The shared broker is not owned by this test.");

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!Owned)
        {
            return;
        }
        await RunScriptAsync("stop", _folder);
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A log file still being closed; the temp folder is the OS's to clean.
        }
    }

    private static async Task<string> RunScriptAsync(string verb, string folder)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(RepositoryRoot(), "scripts", "rabbitmq.sh"));
        info.ArgumentList.Add(verb);
        info.ArgumentList.Add(folder);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(ScriptTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/rabbitmq.sh {verb} did not finish within {ScriptTimeout.TotalSeconds} s");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/rabbitmq.sh {verb} failed ({process.ExitCode}): {await stderr}");
        }
        return await stdout;
    }

    /// <summary>The checkout's root: the nearest folder above the test binaries that holds Switchboard.slnx.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Switchboard.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Switchboard.slnx not found above " + AppContext.BaseDirectory);
    }
}
