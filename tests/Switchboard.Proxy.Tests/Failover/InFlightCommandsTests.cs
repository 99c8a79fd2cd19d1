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
