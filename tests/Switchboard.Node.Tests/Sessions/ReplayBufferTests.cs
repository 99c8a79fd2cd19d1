using System.Text;
using Switchboard.Node.Sessions;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>The per-session replay buffer: bounded by count, bytes and age, and honest about what it lost.</summary>
public sealed class ReplayBufferTests
{
    private readonly ManualTimeProvider _time = new();

    private static RoutedMessage Message(int bytes = 1) =>
        new(new Target(TargetKind.User, "bob"), "user:alice", Encoding.UTF8.GetBytes($"\"{new string('x', bytes)}\""), "node-1");

    private static long[] Seqs(ReplayWindow window) => window.Messages.Select(m => m.Seq).ToArray();

    [Fact]
    public void Since_ReturnsEverythingAfterLastSeq_InOrder_WithoutAGap()
    {
        var buffer = new ReplayBuffer(10, 1_000_000, TimeSpan.FromMinutes(1), _time);
        for (var seq = 1; seq <= 5; seq++)
        {
            buffer.Add(seq, Message());
        }

        var window = buffer.Since(2, 5);

        Seqs(window).ShouldBe([3, 4, 5]);
        window.MissedFrom.ShouldBeNull();
    }

    [Fact]
    public void CountLimit_DropsTheOldest_AndTheGapIsNamed()
    {
        var buffer = new ReplayBuffer(3, 1_000_000, TimeSpan.FromMinutes(1), _time);
        for (var seq = 1; seq <= 6; seq++)
        {
            buffer.Add(seq, Message());
        }

        var window = buffer.Since(0, 6);

        buffer.Count.ShouldBe(3);
        Seqs(window).ShouldBe([4, 5, 6]);
        (window.MissedFrom, window.MissedTo).ShouldBe((1L, 3L));
    }

    [Fact]
    public void ByteLimit_DropsTheOldest()
    {
        var probe = Message(100).FramePrefix.Length;
        var buffer = new ReplayBuffer(100, probe * 2, TimeSpan.FromMinutes(1), _time);
        for (var seq = 1; seq <= 4; seq++)
        {
            buffer.Add(seq, Message(100));
        }

        buffer.Bytes.ShouldBeLessThanOrEqualTo(probe * 2);
        var window = buffer.Since(1, 4);
        Seqs(window).ShouldBe([3, 4]);
        (window.MissedFrom, window.MissedTo).ShouldBe((2L, 2L));
    }

    [Fact]
    public void AgeLimit_ExpiresOldMessages()
    {
        var buffer = new ReplayBuffer(100, 1_000_000, TimeSpan.FromSeconds(10), _time);
        buffer.Add(1, Message());
        buffer.Add(2, Message());
        _time.Advance(TimeSpan.FromSeconds(8));
        buffer.Add(3, Message());
        _time.Advance(TimeSpan.FromSeconds(5));

        var window = buffer.Since(0, 3);

        Seqs(window).ShouldBe([3]);
        (window.MissedFrom, window.MissedTo).ShouldBe((1L, 2L));
    }

    [Fact]
    public void NothingMissed_WhenTheClientIsUpToDate_EvenWithAnEmptyBuffer()
    {
        var buffer = new ReplayBuffer(1, 1, TimeSpan.FromSeconds(1), _time);

        var window = buffer.Since(7, 7);

        window.Messages.ShouldBeEmpty();
        window.MissedFrom.ShouldBeNull();
    }

    [Fact]
    public void Acknowledged_MessagesAreLetGo()
    {
        var buffer = new ReplayBuffer(10, 1_000_000, TimeSpan.FromMinutes(1), _time);
        for (var seq = 1; seq <= 5; seq++)
        {
            buffer.Add(seq, Message());
        }

        buffer.TrimThrough(3);

        buffer.Count.ShouldBe(2);
        Seqs(buffer.Since(3, 5)).ShouldBe([4, 5]);
    }
}
