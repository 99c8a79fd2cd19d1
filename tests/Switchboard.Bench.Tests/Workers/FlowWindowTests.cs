using Switchboard.Bench.Workers;

namespace Switchboard.Bench.Tests.Workers;

/// <summary>The flat-out window: a shared limit, and a share per sender so that no receiver gets the whole window.</summary>
public sealed class FlowWindowTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ASenderAtItsShare_Waits_WhileAnotherStillSends_AndGoesOnWhenItsOwnMessageArrives()
    {
        var window = new FlowWindow(limit: 100, deliveriesPerMessage: 1, perSenderLimit: 2);
        for (var i = 0; i < 2; i++)
        {
            await window.WaitAsync(sender: 1, Patience, CancellationToken.None);
            window.OnSent(1);
        }

        var third = window.WaitAsync(sender: 1, Patience, CancellationToken.None).AsTask();
        third.IsCompleted.ShouldBeFalse("sender 1 has its share outstanding");
        await window.WaitAsync(sender: 2, Patience, CancellationToken.None).AsTask().WaitAsync(Patience); // sender 2 has room

        window.OnDelivered(sender: 2); // someone else's delivery frees nothing of sender 1's share
        third.IsCompleted.ShouldBeFalse();
        window.OnDelivered(sender: 1);
        await third.WaitAsync(Patience);
    }

    [Fact]
    public async Task TheSharedLimit_HoldsEverySender()
    {
        var window = new FlowWindow(limit: 2, deliveriesPerMessage: 1, perSenderLimit: 2);
        window.OnSent(1);
        window.OnSent(2);

        var waiting = window.WaitAsync(sender: 3, Patience, CancellationToken.None).AsTask();
        waiting.IsCompleted.ShouldBeFalse("the worker's window is full");
        window.OnDelivered(sender: 1);
        await waiting.WaitAsync(Patience);
    }

    [Fact]
    public async Task AfterPatience_AMessageGoesAnyway_SoALostDeliveryCannotHoldASenderForEver()
    {
        var window = new FlowWindow(limit: 100, deliveriesPerMessage: 1, perSenderLimit: 1);
        window.OnSent(1);

        await window.WaitAsync(sender: 1, TimeSpan.FromMilliseconds(50), CancellationToken.None).AsTask().WaitAsync(Patience);
    }
}
