using Switchboard.Backplane.RabbitMq;

namespace Switchboard.Backplane.Tests.RabbitMq;

/// <summary>
/// Following the broker's publisher confirms: a flush completes once everything published before it is confirmed,
/// whatever order and grouping the confirms come in, and fails when the broker refuses one or the channel goes.
/// </summary>
public sealed class PublishConfirmsTests
{
    private static TaskCompletionSource Waiter() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static PublishConfirms PublishedThrough(ulong last)
    {
        var confirms = new PublishConfirms();
        for (ulong n = 1; n <= last; n++)
        {
            confirms.Published(n);
        }
        return confirms;
    }

    [Fact]
    public void NothingPublished_CompletesAtOnce()
    {
        var done = Waiter();
        new PublishConfirms().WhenConfirmed(done);
        done.Task.IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public void AMultipleAck_CompletesEveryWaiterItCovers_AndOnlyThose()
    {
        var confirms = PublishedThrough(3);
        var firstThree = Waiter();
        confirms.WhenConfirmed(firstThree);
        confirms.Published(4);
        var allFour = Waiter();
        confirms.WhenConfirmed(allFour);

        confirms.Acked(3, multiple: true);
        firstThree.Task.IsCompletedSuccessfully.ShouldBeTrue();
        allFour.Task.IsCompleted.ShouldBeFalse();

        confirms.Acked(4, multiple: false);
        allFour.Task.IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public void AnAckOutOfOrder_WaitsForTheNumbersBelowIt()
    {
        var confirms = PublishedThrough(3);
        var done = Waiter();
        confirms.WhenConfirmed(done);

        confirms.Acked(3, multiple: false);
        confirms.Acked(1, multiple: false);
        done.Task.IsCompleted.ShouldBeFalse("2 is not confirmed yet");

        confirms.Acked(2, multiple: false);
        done.Task.IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public void ANack_FailsTheWaitersThatIncludeIt_NotTheOnesBefore()
    {
        var confirms = PublishedThrough(1);
        var first = Waiter();
        confirms.WhenConfirmed(first);
        confirms.Published(2);
        var second = Waiter();
        confirms.WhenConfirmed(second);

        confirms.Nacked(2, multiple: false);
        second.Task.Exception!.InnerException.ShouldBeOfType<BackplaneUnavailableException>();
        first.Task.IsCompleted.ShouldBeFalse();

        confirms.Acked(1, multiple: false);
        first.Task.IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public void AMultipleNack_FailsEveryWaiterStillWaiting()
    {
        var confirms = PublishedThrough(2);
        var done = Waiter();
        confirms.WhenConfirmed(done);

        confirms.Nacked(2, multiple: true);

        done.Task.IsFaulted.ShouldBeTrue();
    }

    [Fact]
    public void ANackBeforeAnyWaiter_FailsTheNextWaiter_AndOnlyIt()
    {
        var confirms = PublishedThrough(2);
        confirms.Nacked(1, multiple: false);
        confirms.Acked(2, multiple: false);

        var covering = Waiter();
        confirms.WhenConfirmed(covering);
        covering.Task.IsFaulted.ShouldBeTrue("message 1 was refused before anyone waited for it");

        confirms.Published(3);
        confirms.Acked(3, multiple: false);
        var next = Waiter();
        confirms.WhenConfirmed(next);
        next.Task.IsCompletedSuccessfully.ShouldBeTrue();
    }

    [Fact]
    public void ALostChannel_FailsNoWaiterWhenEverythingWasConfirmed()
    {
        var confirms = PublishedThrough(2);
        confirms.Acked(2, multiple: true);
        confirms.Fail(new BackplaneUnavailableException("lost"));

        var done = Waiter();
        confirms.WhenConfirmed(done);

        done.Task.IsCompletedSuccessfully.ShouldBeTrue();
        confirms.AllConfirmed.ShouldBeTrue();
    }

    [Fact]
    public void ALostChannel_FailsWaitersNowAndLater()
    {
        var confirms = PublishedThrough(1);
        var waiting = Waiter();
        confirms.WhenConfirmed(waiting);

        confirms.Fail(new BackplaneUnavailableException("lost"));
        var later = Waiter();
        confirms.WhenConfirmed(later);

        waiting.Task.IsFaulted.ShouldBeTrue();
        later.Task.IsFaulted.ShouldBeTrue();
    }
}
