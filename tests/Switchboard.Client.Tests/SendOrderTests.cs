using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests;

/// <summary>The order of retried sends across a reconnect, without sockets: numbers are call order, objects stand for connections.</summary>
public sealed class SendOrderTests
{
    private readonly SendOrder<object> _order = new();
    private readonly object _first = new();
    private readonly object _second = new();

    public SendOrderTests() => _order.Live(_first);

    [Fact]
    public void OnASteadyConnection_NoSendWaits()
    {
        Send(1, _first);
        Send(2, _first);

        _order.WaitTurnAsync(3, CancellationToken.None).IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public async Task ASendLostWithItsConnection_GoesOutAgainBeforeALaterSend()
    {
        Send(1, _first);
        _order.Ended(_first);
        _order.Live(_second);

        var later = _order.WaitTurnAsync(2, CancellationToken.None);
        later.IsCompleted.ShouldBeFalse("send 1 must be written again first");
        _order.WaitTurnAsync(1, CancellationToken.None).IsCompletedSuccessfully.ShouldBeTrue("the lost send itself goes at once");

        Send(1, _second);

        await later.WithTimeout("send 2's turn");
    }

    [Fact]
    public async Task AQueuedSendThatGivesUp_LetsTheNextGo()
    {
        Send(1, _first);
        _order.Ended(_first);
        _order.Live(_second);
        var later = _order.WaitTurnAsync(2, CancellationToken.None);

        _order.Done(1);

        await later.WithTimeout("send 2's turn");
    }

    [Fact]
    public async Task WaitingSends_AreLetGoOneAtATime_LowestFirst()
    {
        _order.Ended(_first);
        _order.WaitingForConnection(1);
        _order.WaitingForConnection(2);
        _order.WaitingForConnection(3);
        _order.Live(_second);

        var third = _order.WaitTurnAsync(3, CancellationToken.None);
        var second = _order.WaitTurnAsync(2, CancellationToken.None);
        _order.WaitTurnAsync(1, CancellationToken.None).IsCompletedSuccessfully.ShouldBeTrue();
        Send(1, _second);

        await second.WithTimeout("send 2's turn");
        third.IsCompleted.ShouldBeFalse("send 3 waits until send 2 is written");
        Send(2, _second);
        await third.WithTimeout("send 3's turn");
    }

    [Fact]
    public async Task AWaiterThatIsCancelled_LetsTheNextGoWhenItIsDone()
    {
        Send(1, _first);
        _order.Ended(_first);
        _order.Live(_second);
        using var cancel = new CancellationTokenSource();
        var second = _order.WaitTurnAsync(2, cancel.Token);
        var third = _order.WaitTurnAsync(3, CancellationToken.None);

        await cancel.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(second.WithTimeout("the cancelled wait"));
        Send(1, _second);
        third.IsCompleted.ShouldBeFalse("command 2 is still queued until it is done");
        _order.Done(2);

        await third.WithTimeout("command 3's turn");
    }

    [Fact]
    public void ASendWrittenOnAConnectionThatEndedMeanwhile_StaysQueued()
    {
        _order.Writing(1, _first);
        _order.Ended(_first);
        _order.Written(1, _first);
        _order.Live(_second);

        _order.WaitTurnAsync(2, CancellationToken.None).IsCompleted.ShouldBeFalse();
    }

    private void Send(long number, object connection)
    {
        _order.Writing(number, connection);
        _order.Written(number, connection);
    }
}
