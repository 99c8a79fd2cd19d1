using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Node.Connections;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Connections;

/// <summary>
/// A connection's send path: a queue created by the first frame and a send task that ends when it drains. Order,
/// the 3008 overflow, flush-then-close and frames that race the send task's end.
/// </summary>
public sealed class SendQueueTests
{
    [Fact]
    public async Task FramesAreSentInQueueOrder_AndNothingIsHeldOnceTheQueueDrains()
    {
        var (connection, socket, _) = Connect(capacity: 1024);
        for (var i = 1; i <= 200; i++)
        {
            // Replies and messages share the one queue; messages get their seq as they are queued.
            (i % 3 == 0 ? connection.TryEnqueue(Reply(i)) : connection.TryEnqueue(Message(i))).ShouldBeTrue();
        }

        await Eventually.TrueAsync(() => socket.Sent.Count == 200, "every frame to be sent");
        socket.Sent.Select(Number).ShouldBe(Enumerable.Range(1, 200));
        socket.Sent.Where(IsMessage).Select(Seq).ShouldBe(Enumerable.Range(1, 200 - 200 / 3).Select(i => (long)i));
        await Eventually.TrueAsync(() => !connection.IsSending, "the send task to end once the queue drained");
        connection.QueuedFrames.ShouldBe(0);
        socket.SendsOverlapped.ShouldBeFalse();
    }

    [Fact]
    public async Task FramesQueuedWhileHeld_LeaveOnlyOnceLetGo_InQueueOrder()
    {
        var (connection, socket, _) = Connect(capacity: 64);
        connection.HoldUntilRoutable();
        connection.TryEnqueue(Reply(1)).ShouldBeTrue();
        connection.TryEnqueue(Message(2)).ShouldBeTrue();
        connection.TryEnqueue(Reply(3)).ShouldBeTrue();

        connection.QueuedFrames.ShouldBe(3);
        connection.IsSending.ShouldBeFalse("nothing may leave while the connection is held");
        socket.SendsStarted.ShouldBe(0);
        connection.StopHolding();

        await Eventually.TrueAsync(() => socket.Sent.Count == 3, "the held frames to be sent");
        socket.Sent.Select(Number).ShouldBe([1, 2, 3]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ACloseWhileHeld_IsNotHeld(bool flush)
    {
        var (connection, socket, _) = Connect(capacity: 64);
        connection.HoldUntilRoutable();
        connection.TryEnqueue(Reply(1)).ShouldBeTrue();

        connection.RequestClose(CloseReason.NodeShutdown, (WebSocketCloseStatus)CloseCodes.ServiceRestart, "going", flush);

        await Eventually.TrueAsync(() => socket.SentClose is not null, "the close frame, though the connection is held");
        socket.Sent.Select(Number).ShouldBe(flush ? [1] : []);
    }

    [Fact]
    public async Task AFullQueue_ClosesWith3008_AndDropsWhatWasQueued()
    {
        var (connection, socket, owner) = Connect(capacity: 8);
        socket.HoldSends();
        connection.TryEnqueue(Reply(1)).ShouldBeTrue();
        await Eventually.TrueAsync(() => socket.SendsStarted == 1, "the first frame to be in flight");
        for (var i = 2; i <= 9; i++)
        {
            connection.TryEnqueue(Reply(i)).ShouldBeTrue($"frame {i} fits the queue of 8");
        }

        connection.TryEnqueue(Reply(10)).ShouldBeFalse();
        connection.ClosedBecause.ShouldBe(CloseReason.SlowConsumer);
        owner.Closing.ShouldBe([CloseReason.SlowConsumer]);
        connection.TryEnqueue(Message(11)).ShouldBeFalse("nothing is queued once the connection closes");
        socket.ReleaseSends();

        await Eventually.TrueAsync(() => socket.SentClose is not null, "the close frame");
        socket.SentClose.ShouldBe((WebSocketCloseStatus)CloseCodes.SlowConsumer);
        socket.Sent.Select(Number).ShouldBe([1]);
    }

    [Fact]
    public async Task ACloseThatFlushes_SendsEveryQueuedFrameFirst()
    {
        var (connection, socket, _) = Connect(capacity: 64);
        socket.HoldSends();
        connection.TryEnqueue(Reply(1)).ShouldBeTrue();
        await Eventually.TrueAsync(() => socket.SendsStarted == 1, "the first frame to be in flight");
        for (var i = 2; i <= 6; i++)
        {
            connection.TryEnqueue(Message(i)).ShouldBeTrue();
        }

        connection.RequestClose(CloseReason.NodeShutdown, (WebSocketCloseStatus)CloseCodes.ServiceRestart, "node shutting down", flush: true);
        connection.TryEnqueue(Reply(7)).ShouldBeFalse("nothing is queued once the connection closes");
        socket.SentClose.ShouldBeNull();
        socket.ReleaseSends();

        await Eventually.TrueAsync(() => socket.SentClose is not null, "the close frame");
        socket.SentClose.ShouldBe((WebSocketCloseStatus)CloseCodes.ServiceRestart);
        socket.Sent.Select(Number).ShouldBe([1, 2, 3, 4, 5, 6]);
    }

    [Fact]
    public async Task ACloseOnAnIdleConnection_SendsTheCloseFrame_AndTheRunEnds()
    {
        var (connection, socket, owner) = Connect(capacity: 64);
        var run = connection.RunAsync();
        connection.TryEnqueue(Reply(1)).ShouldBeTrue();
        await Eventually.TrueAsync(() => !connection.IsSending, "the send task to end once the queue drained");

        connection.RequestClose(CloseReason.NodeShutdown, (WebSocketCloseStatus)CloseCodes.ServiceRestart, "node shutting down", flush: true);
        await Eventually.TrueAsync(() => socket.SentClose is not null, "the close frame");
        socket.CloseFromPeer();
        await run.WithTimeout("the connection's run to end");

        socket.SentClose.ShouldBe((WebSocketCloseStatus)CloseCodes.ServiceRestart);
        socket.Sent.Select(Number).ShouldBe([1]);
        owner.Ended.ShouldBe(1);
    }

    [Fact]
    public async Task APeerThatCloses_GetsItsCloseAnswered_AndTheRunEndsOnce()
    {
        var (connection, socket, owner) = Connect(capacity: 64);
        var run = connection.RunAsync();
        socket.CloseFromPeer();
        await run.WithTimeout("the connection's run to end");

        socket.SentClose.ShouldBe(WebSocketCloseStatus.NormalClosure);
        connection.ClosedBecause.ShouldBe(CloseReason.ClientClosed);
        owner.Ended.ShouldBe(1);
    }

    [Fact]
    public async Task FramesQueuedWhileTheSendTaskEnds_AreNeverLost()
    {
        var (connection, socket, _) = Connect(capacity: 1024);
        const int count = 20_000;
        var random = new Random(42);
        await Task.Run(() =>
        {
            for (var i = 1; i <= count; i++)
            {
                // The producer stays within the queue's capacity (overflow is another test): on a busy machine the send
                // task can fall far behind a producer that never waits.
                SpinWait.SpinUntil(() => connection.QueuedFrames < 512, TimeSpan.FromSeconds(10)).ShouldBeTrue("the send task to make room");
                connection.TryEnqueue(Message(i)).ShouldBeTrue();
                if (random.Next(4) == 0)
                {
                    // Pauses of every length around the time a send task takes to drain and end.
                    Thread.SpinWait(random.Next(2_000));
                }
            }
        }).WithTimeout("the producer to queue every frame", TimeSpan.FromSeconds(30));

        await Eventually.TrueAsync(() => socket.Sent.Count == count, "every frame to be sent", TimeSpan.FromSeconds(30));
        socket.Sent.Select(Seq).ShouldBe(Enumerable.Range(1, count).Select(i => (long)i));
        socket.SendsOverlapped.ShouldBeFalse();
        await Eventually.TrueAsync(() => !connection.IsSending, "the send task to end once the queue drained");
    }

    private static (ClientConnection, ScriptedWebSocket, RecordingOwner) Connect(int capacity)
    {
        var socket = new ScriptedWebSocket();
        var owner = new RecordingOwner();
        var options = new NodeOptions { SendQueueCapacity = capacity, CloseTimeout = TimeSpan.FromSeconds(30) };
        return (new ClientConnection("node-1.test", "alice", "session-1", socket, owner, options, TimeProvider.System), socket, owner);
    }

    private static byte[] Reply(int number) => ServerFrames.ReplyOk(number.ToString());

    private static RoutedMessage Message(int number) =>
        new(new Target(TargetKind.User, "alice"), "user:bob", Encoding.UTF8.GetBytes(number.ToString()), originNodeId: "node-1");

    private static bool IsMessage(string frame) => Parse(frame).GetProperty("type").GetString() == "message";

    /// <summary>The number a test frame carries: a reply's id or a message's data.</summary>
    private static int Number(string frame)
    {
        var json = Parse(frame);
        return IsMessage(frame) ? json.GetProperty("data").GetInt32() : int.Parse(json.GetProperty("id").GetString()!);
    }

    private static long Seq(string frame) => Parse(frame).GetProperty("seq").GetInt64();

    private static JsonElement Parse(string frame) => JsonDocument.Parse(frame).RootElement;

    private sealed class RecordingOwner : IConnectionOwner
    {
        private int _ended;

        public List<CloseReason> Closing { get; } = [];

        public int Ended => Volatile.Read(ref _ended);

        public ValueTask HandleCommandAsync(ClientConnection connection, ClientCommand command) => ValueTask.CompletedTask;

        public bool StartWithoutResume(ClientConnection connection) => true;

        public void OnClosing(ClientConnection connection, CloseReason reason)
        {
            lock (Closing)
            {
                Closing.Add(reason);
            }
        }

        public void OnEnded(ClientConnection connection) => Interlocked.Increment(ref _ended);

        public void OnFailed(ClientConnection connection, Exception exception) => throw new InvalidOperationException("the connection failed", exception);

        public void OnFrameSent(bool isMessage)
        {
        }
    }
}
