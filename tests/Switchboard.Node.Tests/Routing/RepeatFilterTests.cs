using Switchboard.Node.Hubs;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Routing;

public sealed class RepeatFilterTests
{
    private static readonly Target Bob = new(TargetKind.User, "bob");

    private static RoutedMessage Keyed(string key, Target target) =>
        new(target, "user:alice", "1"u8, "node-1", RoutedMessage.IdForKey("user:alice", key));

    [Fact]
    public void AKeyedMessage_PassesOnce_PerTarget()
    {
        var filter = new RepeatFilter(capacity: 16);
        var message = Keyed("k1", Bob);

        filter.FirstTime(message).ShouldBeTrue();
        filter.FirstTime(Keyed("k1", Bob)).ShouldBeFalse("the same sender and key is the same message");
        // A moved session's traffic comes back to its node with the connection as its target: not a repeat.
        filter.FirstTime(message.WithTarget(new Target(TargetKind.Connection, "c-1"))).ShouldBeTrue();
        filter.FirstTime(Keyed("k2", Bob)).ShouldBeTrue();
    }

    [Fact]
    public void MessagesWithoutAKey_AreNeverHeld()
    {
        var filter = new RepeatFilter(capacity: 16);
        var message = new RoutedMessage(Bob, "user:alice", "1"u8, "node-1");

        filter.FirstTime(message).ShouldBeTrue();
        filter.FirstTime(message).ShouldBeTrue("ids without a key are unique already; only keyed ones repeat");
        filter.Count.ShouldBe(0);
    }

    [Fact]
    public void TheWindow_ForgetsTheOldestFirst()
    {
        var filter = new RepeatFilter(capacity: 2);
        filter.FirstTime(Keyed("a", Bob)).ShouldBeTrue();
        filter.FirstTime(Keyed("b", Bob)).ShouldBeTrue();
        filter.FirstTime(Keyed("c", Bob)).ShouldBeTrue();

        filter.Count.ShouldBe(2);
        filter.FirstTime(Keyed("c", Bob)).ShouldBeFalse();
        filter.FirstTime(Keyed("a", Bob)).ShouldBeTrue("a fell out of the window");
    }

    [Fact]
    public void ACapacityOfZero_TurnsItOff()
    {
        var filter = new RepeatFilter(capacity: 0);
        filter.FirstTime(Keyed("k1", Bob)).ShouldBeTrue();
        filter.FirstTime(Keyed("k1", Bob)).ShouldBeTrue();
    }

    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(1, true)]
    public void TheWindowSetting_IsZeroOrPositive(int window, bool valid)
    {
        var options = new NodeOptions { ClusterSecret = TestCluster.Secret, RepeatWindow = window };
        if (valid)
        {
            options.Validate();
        }
        else
        {
            Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("Node:RepeatWindow");
        }
    }
}
