using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Tests.Workers;

/// <summary>A worker process's request loop, over an input that blocks its reader the way standard input does.</summary>
public sealed class WorkerHostTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WaitingForItsNextRequest_TheLoopHoldsNoThreadButItsInputReader_AndAnswersEachRequest()
    {
        var input = new StandardInputLike();
        var output = new LineWriter();

        // Started on a thread of the test's: with the loop reading its input on that thread, this would not return
        // until the input ends. (Before stop 22 it did, and a worker whose last request ended on a socket engine's
        // thread left that engine's sockets unread until the next request.)
        var starting = Task.Factory.StartNew(() => WorkerHost.RunAsync(input, output, CancellationToken.None), CancellationToken.None,
            TaskCreationOptions.None, TaskScheduler.Default);
        try
        {
            var run = await starting.WaitAsync(Timeout);
            run.IsCompleted.ShouldBeFalse();

            input.Send("""{"op":"progress"}""");
            var answer = JsonNode.Parse(await output.Lines.Reader.ReadAsync().AsTask().WaitAsync(Timeout))!;
            answer["ok"]!.GetValue<bool>().ShouldBeTrue();
            answer["body"]!["sent"]!.GetValue<long>().ShouldBe(0);

            input.Send("""{"op":"nonsense"}""");
            JsonNode.Parse(await output.Lines.Reader.ReadAsync().AsTask().WaitAsync(Timeout))!["error"]!.GetValue<string>().ShouldContain("nonsense");

            input.End();
            (await run.WaitAsync(Timeout)).ShouldBe(0);
        }
        finally
        {
            // Whatever failed above, nothing stays blocked in a read of the input for the rest of the run.
            input.End();
        }
    }

    /// <summary>Like <see cref="Console.In"/> on Unix: its async reads are synchronous, and a read blocks until a line comes.</summary>
    private sealed class StandardInputLike : TextReader
    {
        private readonly BlockingCollection<string?> _lines = [];

        public void Send(string line) => _lines.Add(line);

        public void End() => _lines.Add(null);

        public override string? ReadLine() => _lines.Take();

        public override ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken) => ValueTask.FromResult(ReadLine());

        public override Task<string?> ReadLineAsync() => Task.FromResult(ReadLine());
    }

    /// <summary>Hands each line written to a channel, so a test can await the next answer.</summary>
    private sealed class LineWriter : TextWriter
    {
        public Channel<string> Lines { get; } = Channel.CreateUnbounded<string>();

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
        {
            Lines.Writer.TryWrite(buffer.ToString());
            return Task.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
