using System.Text.Json;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests;

/// <summary>
/// The buffer behind <see cref="SwitchboardClient.ReadAllAsync"/> and <see cref="SwitchboardClient.OnMessage"/>, without
/// sockets: the race under test is between the application's reader and <see cref="SwitchboardClient.DisposeAsync"/>'s
/// drop, both in the client's process.
/// </summary>
public sealed class MessageBufferTests
{
    [Fact]
    public async Task DropUnreadRacingAReader_NeverHandsOutAMessageTwiceOutOfOrderOrNull()
    {
        const int Rounds = 2_000;
        const int Messages = 1_000;
        for (var round = 0; round < Rounds; round++)
        {
            var buffer = new MessageBuffer(capacity: Messages * 2);
            for (var seq = 1; seq <= Messages; seq++)
            {
                // Below the capacity a write does not wait.
                _ = buffer.WriteAsync(new SwitchboardMessage("alice", "user:bob", default(JsonElement), seq), () => false,
                    CancellationToken.None, CancellationToken.None);
            }
            var started = 0;
            var dropped = 0;
            var reader = Task.Factory.StartNew(() =>
            {
                var handedOut = new List<SwitchboardMessage?>(Messages);
                var afterDrop = 0;
                Volatile.Write(ref started, 1);
                while (true)
                {
                    // Looked at before the read: a read that starts after the drop returned must hand out nothing.
                    var dropDone = Volatile.Read(ref dropped) == 1;
                    if (!buffer.TryRead(out var message))
                    {
                        if (dropDone)
                        {
                            return (handedOut, afterDrop);
                        }
                        continue;
                    }
                    handedOut.Add(message);
                    if (dropDone)
                    {
                        afterDrop++;
                    }
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            // Spin, not block: a blocking wake-up takes longer than the reader needs for all the messages, and the drop
            // must land while it is taking them.
            while (Volatile.Read(ref started) == 0)
            {
            }
            buffer.DropUnread();
            Volatile.Write(ref dropped, 1);
            var (messages, readAfterDrop) = await reader.WithTimeout("the reader to see the drop");

            var seqs = messages.Select(m => m?.Seq ?? 0).ToList();
            if (!seqs.SequenceEqual(Enumerable.Range(1, seqs.Count).Select(seq => (long)seq)))
            {
                seqs.ShouldBe(Enumerable.Range(1, seqs.Count).Select(seq => (long)seq).ToList(),
                    $"round {round}: messages handed out once each, in order, none null (0)");
            }
            readAfterDrop.ShouldBe(0, $"round {round}: no message is handed out once the drop has returned");
        }
    }
}
