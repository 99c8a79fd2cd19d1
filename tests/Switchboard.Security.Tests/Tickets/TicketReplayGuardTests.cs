using Switchboard.Security.Tickets;

namespace Switchboard.Security.Tests.Tickets;

public sealed class TicketReplayGuardTests
{
    private const string Secret = "cluster-secret-0123456789-abcdefghijklmnop";

    [Fact]
    public void ATicket_CanBeUsedOnce()
    {
        var clock = new TestClock();
        using var guard = new TicketReplayGuard(TimeSpan.FromSeconds(5), clock);
        var (_, ticket) = new TicketIssuer(Secret, clock).Issue("bob", "node-1", "s1", TimeSpan.FromSeconds(30));
        var (_, other) = new TicketIssuer(Secret, clock).Issue("bob", "node-1", "s1", TimeSpan.FromSeconds(30));

        guard.TryUse(ticket).ShouldBeTrue();
        guard.TryUse(ticket).ShouldBeFalse();
        guard.TryUse(other).ShouldBeTrue();
    }

    [Fact]
    public void Sweep_ForgetsOnlyTicketsThatCanNoLongerPassValidation()
    {
        var clock = new TestClock();
        using var guard = new TicketReplayGuard(TimeSpan.FromSeconds(5), clock);
        var issuer = new TicketIssuer(Secret, clock);
        guard.TryUse(issuer.Issue("a", "node-1", "s", TimeSpan.FromSeconds(10)).Ticket);
        guard.TryUse(issuer.Issue("b", "node-1", "s", TimeSpan.FromSeconds(60)).Ticket);

        clock.Advance(TimeSpan.FromSeconds(14));
        guard.Sweep();
        guard.Count.ShouldBe(2);

        clock.Advance(TimeSpan.FromSeconds(2));
        guard.Sweep();
        guard.Count.ShouldBe(1);
    }
}
