using System.Net.WebSockets;
using System.Text;
using Switchboard.Proxy.Failover;

namespace Switchboard.Proxy.Tests.Failover;

/// <summary>Which client commands the failover proxy keeps until the node answers, to hand them to the next node.</summary>
public sealed class InFlightCommandsTests
{
    private static FailoverFrame Frame(string json) => new(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text);

    [Fact]
    public void APingWithAnId_IsKeptUntilAnswered_AndGoesToTheNextNodeMeanwhile()
    {
        var commands = new InFlightCommands();

        var (frame, tracked) = commands.Track(Frame("""{"type":"ping","id":"p1"}"""), FailoverFrames.Ping, "p1");

        tracked.ShouldBeTrue();
        commands.Unanswered().Select(f => Encoding.UTF8.GetString(f.Data)).ShouldBe([Encoding.UTF8.GetString(frame.Data)]);
        commands.Answered("p1").ShouldBeFalse(); // the client's own id: its reply is passed on
        commands.Unanswered().ShouldBeEmpty();
    }

    [Fact]
    public void APingWithoutAnId_IsNotKept_AndGetsNoIdOfTheProxys()
    {
        var commands = new InFlightCommands();
        const string Ping = """{"type":"ping"}""";

        var (frame, tracked) = commands.Track(Frame(Ping), FailoverFrames.Ping, null);

        tracked.ShouldBeFalse();
        Encoding.UTF8.GetString(frame.Data).ShouldBe(Ping);
        commands.Unanswered().ShouldBeEmpty();
    }

    [Fact]
    public void EverySend_GoesWithAKeyOfItsOwn_WhichItKeepsWhenSentAgain_UnlessTheClientGaveOne()
    {
        var commands = new InFlightCommands();
        var others = new InFlightCommands();

        var first = FailoverFrames.Scan(commands.Track(Frame("""{"type":"send","to":"user:a","data":1}"""), FailoverFrames.Send, null).Frame.Data);
        var second = FailoverFrames.Scan(commands.Track(Frame("""{"type":"send","to":"user:a","data":2,"id":"s2"}"""), FailoverFrames.Send, "s2").Frame.Data);
        var mine = FailoverFrames.Scan(commands.Track(Frame("""{"type":"send","to":"user:a","data":3,"key":"mine"}"""), FailoverFrames.Send, null, "mine").Frame.Data);
        var join = FailoverFrames.Scan(commands.Track(Frame("""{"type":"join","group":"g"}"""), FailoverFrames.Join, null).Frame.Data);
        var elsewhere = FailoverFrames.Scan(others.Track(Frame("""{"type":"send","to":"user:a","data":1}"""), FailoverFrames.Send, null).Frame.Data);

        first.Key.ShouldNotBeNull();
        second.Key.ShouldNotBeNull();
        second.Key.ShouldNotBe(first.Key);
        second.Id.ShouldBe("s2");
        elsewhere.Key.ShouldNotBe(first.Key, "another client connection's keys are its own");
        mine.Key.ShouldBe("mine");
        join.Key.ShouldBeNull();
        // What goes to the next node is the frame as first sent: the same keys.
        commands.Unanswered().Select(f => FailoverFrames.Scan(f.Data).Key).ShouldBe([first.Key, second.Key, "mine", null]);
    }

    [Fact]
    public void ASendWithoutAnId_GetsTheProxysId_WhoseReplyTheClientDoesNotSee()
    {
        var commands = new InFlightCommands();

        var (frame, tracked) = commands.Track(Frame("""{"type":"send","to":"user:a","data":1}"""), FailoverFrames.Send, null);

        tracked.ShouldBeTrue();
        var id = FailoverFrames.Scan(frame.Data).Id.ShouldNotBeNull();
        id.ShouldStartWith(InFlightCommands.IdPrefix);
        commands.Answered(id).ShouldBeTrue();
        commands.Unanswered().ShouldBeEmpty();
    }
}
