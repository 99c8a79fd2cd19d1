using System.Text;
using Switchboard.Node.Sessions;
using Switchboard.Protocol;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>The fence that keeps a moved session's direct and forwarded paths in per-sender order.</summary>
public sealed class HandOverFenceTests
{
    private const string Connection = "node-3.new";

    private static RoutedMessage Direct(string data, string origin = "node-1") =>
        new(new Target(TargetKind.User, "bob"), "user:alice", Encoding.UTF8.GetBytes($"\"{data}\""), origin);

    private static RoutedMessage Forwarded(RoutedMessage direct) => direct.WithTarget(new Target(TargetKind.Connection, Connection));

    private static HandOverFence Fence(int capacity = 100) => new(Connection, endsAt: 1_000, capacity);

    private static long[] Ids(IEnumerable<RoutedMessage> messages) => messages.Select(m => m.Id).ToArray();

    [Fact]
    public void DirectMessages_AreHeld_UntilTheirForwardedCopy_ThenGoAfterIt()
    {
        var fence = Fence();
        var first = Direct("first");
        var second = Direct("second");

        fence.Admit(second, _ => false, out _).ShouldBeEmpty("a direct message waits for the old node's path");
        Ids(fence.Admit(Forwarded(first), _ => false, out _)).ShouldBe([first.Id], "an older forwarded message goes at once");
        Ids(fence.Admit(Forwarded(second), _ => false, out _)).ShouldBe([second.Id], "the copy releases the held message, once");
        fence.Release().ShouldBeEmpty();
    }

    [Fact]
    public void AForwardedCopy_ReleasesTheOlderHeldMessagesOfItsOrigin_FirstAndInOrder()
    {
        var fence = Fence();
        var onlyDirect1 = Direct("a");
        var onlyDirect2 = Direct("b");
        var both = Direct("c");
        var otherOrigin = Direct("d", origin: "node-4");
        foreach (var message in new[] { onlyDirect1, otherOrigin, onlyDirect2, both })
        {
            fence.Admit(message, _ => false, out _).ShouldBeEmpty();
        }

        Ids(fence.Admit(Forwarded(both), _ => false, out _)).ShouldBe([onlyDirect1.Id, onlyDirect2.Id, both.Id]);
        Ids(fence.Release()).ShouldBe([otherOrigin.Id], "another origin's messages wait for their own copies");
    }

    [Fact]
    public void ADirectCopyOfAMessageAlreadyDelivered_IsNotHeld()
    {
        var fence = Fence();
        var message = Direct("x");

        fence.Admit(message, id => id == message.Id, out _).ShouldBeEmpty();
        fence.Release().ShouldBeEmpty();
    }

    [Fact]
    public void PastItsCapacity_TheFenceAsksToBeReleased()
    {
        var fence = Fence(capacity: 2);
        fence.Admit(Direct("1"), _ => false, out var overflow);
        overflow.ShouldBeFalse();
        fence.Admit(Direct("2"), _ => false, out overflow);
        overflow.ShouldBeFalse();
        fence.Admit(Direct("3"), _ => false, out overflow);
        overflow.ShouldBeTrue();
        fence.Release().Count.ShouldBe(3);
    }

    [Fact]
    public void TheFenceEnds_WhenTheOldNodeStopsForwarding()
    {
        var fence = Fence();
        fence.HasEnded(999).ShouldBeFalse();
        fence.HasEnded(1_000).ShouldBeTrue();
    }
}
