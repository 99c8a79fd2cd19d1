namespace Switchboard.Security.Tickets;

/// <summary>The claim names and fixed values of a ticket JWT, defined once.</summary>
internal static class TicketClaims
{
    public const string Issuer = "switchboard";
    public const string Audience = "switchboard.node";
    public const string Subject = "sub";
    public const string Node = "node";
    public const string Session = "sid";
    public const string TicketId = "jti";
    public const string Resume = "rsm";
    public const string ResumeOnly = "rso";
    public const string StandbyOf = "stb";
}
