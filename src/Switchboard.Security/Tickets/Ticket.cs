namespace Switchboard.Security.Tickets;

/// <summary>What a ticket grants: one user may open one connection on one node, for one session, until it expires.</summary>
/// <param name="UserId">The user (the JWT subject).</param>
/// <param name="NodeId">The only node that accepts the ticket.</param>
/// <param name="SessionId">The session the connection starts or continues.</param>
/// <param name="ExpiresAt">After this instant the node refuses the ticket.</param>
/// <param name="TicketId">Unique per ticket (the <c>jti</c> claim), so a node can refuse a ticket used twice.</param>
/// <param name="Resume">
/// True when the client asked to continue <paramref name="SessionId"/>: the node then waits for the client's
/// <c>resume</c> frame before it welcomes the connection.
/// </param>
/// <param name="ResumeOnly">
/// True for a ticket that may only continue <paramref name="SessionId"/> (the gateway issues these to a proxy, which
/// holds a proxy key rather than the user's credentials): when the first frame is not <c>resume</c>, or the resume
/// fails, the node closes the connection instead of welcoming it as a new session.
/// </param>
/// <param name="StandbyOf">
/// For a failover proxy's standby connection: the live session of the same user that this new session stands by. The
/// node welcomes it only after the node holding that session confirms it is live and the user's.
/// </param>
public sealed record Ticket(string UserId, string NodeId, string SessionId, DateTimeOffset ExpiresAt, string TicketId, bool Resume = false, bool ResumeOnly = false,
    string? StandbyOf = null);

/// <summary>Why a node refused a ticket.</summary>
public enum TicketFailure
{
    /// <summary>The ticket was accepted.</summary>
    None,
    /// <summary>No ticket was given.</summary>
    Missing,
    /// <summary>Not a well-formed ticket, or claims are missing.</summary>
    Malformed,
    /// <summary>The signature does not match the cluster secret (forged, or from another cluster).</summary>
    BadSignature,
    /// <summary>The ticket has expired.</summary>
    Expired,
    /// <summary>The ticket names another node.</summary>
    WrongNode,
    /// <summary>The ticket was already used for a connection (tickets are single-use).</summary>
    Reused,
}

/// <summary>The outcome of validating a ticket.</summary>
/// <param name="Ticket">The ticket, when valid.</param>
/// <param name="Failure">Why it is not, else <see cref="TicketFailure.None"/>.</param>
public readonly record struct TicketValidation(Ticket? Ticket, TicketFailure Failure)
{
    /// <summary>True when the ticket was accepted.</summary>
    public bool IsValid => Failure == TicketFailure.None;

    /// <summary>A sentence for the close reason (WebSocket close reasons are at most 123 bytes).</summary>
    public string Describe() => Failure switch
    {
        TicketFailure.Missing => "missing ticket: connect with ?token=<ticket from the gateway>",
        TicketFailure.Malformed => "malformed ticket",
        TicketFailure.BadSignature => "ticket signature is invalid",
        TicketFailure.Expired => "ticket has expired: ask the gateway again",
        TicketFailure.WrongNode => "ticket is for another node: ask the gateway again",
        TicketFailure.Reused => "ticket was already used: ask the gateway again",
        _ => "ticket accepted",
    };
}
