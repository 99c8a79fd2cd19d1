using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchboard.Bench.Load;

namespace Switchboard.Bench.Workers;

/// <summary>
/// A worker in a process of its own (<c>switchboard bench-worker</c>), driven over its standard input and output: one
/// JSON request per line, one JSON answer per line, in order.
/// </summary>
internal sealed class WorkerProcess : IBenchWorker
{
    private readonly Process _process;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly List<string> _stderr = [];

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.Add(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
    }

    /// <summary>The worker's process id (its own memory and CPU are the bench's, not the system's).</summary>
    public int ProcessId => _process.Id;

    /// <summary>
    /// The runtime switch that runs socket continuations on the socket engine's own thread instead of queueing each one
    /// to the thread pool.
    /// </summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The runtime switch that takes HttpClient's distributed-tracing handler out of its pipeline.</summary>
    public const string ActivityPropagationVariable = "DOTNET_SYSTEM_NET_HTTP_ENABLEACTIVITYPROPAGATION";

    /// <summary>Starts worker <paramref name="workerIndex"/>; <paramref name="inlineCompletions"/> for workers that only connect and hold.</summary>
    public static WorkerProcess Start(int workerIndex, bool inlineCompletions = false)
    {
        var info = SelfProcess.StartInfo("bench-worker", "--index", workerIndex.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // Opening connections, a worker's continuations are short and never block, so a hop to the pool per socket event
        // is pure cost, taken from the system under test on the same cores (7-27 % of a worker's CPU per connection
        // opened, stop 21). Not for traffic: there it measured no better (stop 22: at 50,000 msg/s, p99 96 and 109 ms
        // against 63 and 115 ms through two workers, the same load generator CPU). Set the variable to 0 on the bench
        // to measure without it.
        if (inlineCompletions && Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            info.Environment[InlineCompletionsVariable] = "1";
        }
        // The clients' placement requests carry no trace context: without it HttpClient leaves out its diagnostics
        // handler, ~3 % of a worker's CPU opening connections (perf, stop 22). As above, the bench's own setting wins.
        if (Environment.GetEnvironmentVariable(ActivityPropagationVariable) is null)
        {
            info.Environment[ActivityPropagationVariable] = "false";
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start a bench worker process.");
        return new WorkerProcess(process);
    }

    public Task<WarmUpReport> WarmUpAsync(WarmUpOrder order, CancellationToken cancellationToken) => CallAsync<WarmUpReport>("warm", order, cancellationToken);

    public Task<ConnectReport> ConnectAsync(ConnectOrder order, CancellationToken cancellationToken) => CallAsync<ConnectReport>("connect", order, cancellationToken);

    public Task JoinAsync(JoinOrder order, CancellationToken cancellationToken) => CallAsync<JsonNode>("join", order, cancellationToken);

    public Task StartTrafficAsync(TrafficOrder order, CancellationToken cancellationToken) => CallAsync<JsonNode>("start", order, cancellationToken);

    public Task StopTrafficAsync(CancellationToken cancellationToken) => CallAsync<JsonNode>("stop", null, cancellationToken);

    public Task ResetLatencyAsync(CancellationToken cancellationToken) => CallAsync<JsonNode>("reset", null, cancellationToken);

    public Task<WorkerProgress> ProgressAsync(CancellationToken cancellationToken) => CallAsync<WorkerProgress>("progress", null, cancellationToken);

    public Task<WorkerResult> ResultAsync(CancellationToken cancellationToken) => CallAsync<WorkerResult>("result", null, cancellationToken);

    public Task CloseAsync(CancellationToken cancellationToken) => CallAsync<JsonNode>("close", null, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
        _turn.Dispose();
    }

    private async Task<T> CallAsync<T>(string op, object? body, CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var request = new JsonObject { ["op"] = op, ["body"] = body is null ? null : JsonSerializer.SerializeToNode(body, body.GetType(), BenchJson.Options) };
            await _process.StandardInput.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
            var line = await _process.StandardOutput.ReadLineAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Bench worker {_process.Id} exited during '{op}': {LastErrors()}");
            var answer = JsonNode.Parse(line) ?? throw new InvalidOperationException($"Bench worker {_process.Id} answered '{line}'.");
            if (answer["ok"]?.GetValue<bool>() != true)
            {
                throw new InvalidOperationException($"Bench worker {_process.Id} failed '{op}': {answer["error"]}");
            }
            return answer["body"].Deserialize<T>(BenchJson.Options)!;
        }
        finally
        {
            _turn.Release();
        }
    }

    private string LastErrors()
    {
        lock (_stderr)
        {
            return string.Join(" | ", _stderr.TakeLast(5));
        }
    }
}
