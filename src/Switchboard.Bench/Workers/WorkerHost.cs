using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Switchboard.Bench.Load;

namespace Switchboard.Bench.Workers;

/// <summary>The loop of a worker process: reads requests from standard input, answers on standard output, exits when input ends.</summary>
public static class WorkerHost
{
    /// <summary>Serves one coordinator until it closes our input; returns the exit code.</summary>
    public static async Task<int> RunAsync(TextReader input, TextWriter output, CancellationToken cancellationToken)
    {
        await using var worker = new BenchWorker();
        await foreach (var line in LinesOf(input).ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            JsonObject answer;
            try
            {
                var request = JsonNode.Parse(line)!.AsObject();
                var body = request["body"];
                object? result = request["op"]!.GetValue<string>() switch
                {
                    "warm" => await worker.WarmUpAsync(Body<WarmUpOrder>(body), cancellationToken).ConfigureAwait(false),
                    "connect" => await worker.ConnectAsync(Body<ConnectOrder>(body), cancellationToken).ConfigureAwait(false),
                    "join" => await Done(worker.JoinAsync(Body<JoinOrder>(body), cancellationToken)).ConfigureAwait(false),
                    "start" => await Done(worker.StartTrafficAsync(Body<TrafficOrder>(body), cancellationToken)).ConfigureAwait(false),
                    "stop" => await Done(worker.StopTrafficAsync(cancellationToken)).ConfigureAwait(false),
                    "reset" => await Done(worker.ResetLatencyAsync(cancellationToken)).ConfigureAwait(false),
                    "progress" => await worker.ProgressAsync(cancellationToken).ConfigureAwait(false),
                    "result" => await worker.ResultAsync(cancellationToken).ConfigureAwait(false),
                    "close" => await Done(worker.CloseAsync(cancellationToken)).ConfigureAwait(false),
                    var op => throw new InvalidOperationException($"Unknown operation '{op}'."),
                };
                answer = new JsonObject { ["ok"] = true, ["body"] = result is null ? null : JsonSerializer.SerializeToNode(result, result.GetType(), BenchJson.Options) };
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                answer = new JsonObject { ["ok"] = false, ["error"] = e.Message };
            }
            await output.WriteLineAsync(answer.ToJsonString().AsMemory(), cancellationToken).ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>
    /// The lines of <paramref name="input"/>, read on a thread of its own. Reading standard input blocks the thread that
    /// reads (its async reads are synchronous on Unix), and this loop resumes wherever the last request's work ended:
    /// in a worker that runs socket continuations inline, on a socket engine's thread, whose sockets then went unread
    /// until the next request came (paced traffic delivered half its messages seconds late, stop 22). From a channel,
    /// the loop never waits on a thread that something else needs: while no request is there it holds no thread, and
    /// it resumes on the thread pool.
    /// </summary>
    private static ChannelReader<string> LinesOf(TextReader input)
    {
        var lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var reader = new Thread(() =>
        {
            try
            {
                while (input.ReadLine() is { } line)
                {
                    lines.Writer.TryWrite(line);
                }
                lines.Writer.TryComplete();
            }
            catch (Exception e)
            {
                lines.Writer.TryComplete(e);
            }
        })
        { IsBackground = true, Name = "Bench worker input" };
        reader.Start();
        return lines.Reader;
    }

    private static T Body<T>(JsonNode? body) => body.Deserialize<T>(BenchJson.Options) ?? throw new InvalidOperationException($"Missing {typeof(T).Name}.");

    private static async Task<object?> Done(Task task)
    {
        await task.ConfigureAwait(false);
        return null;
    }
}
