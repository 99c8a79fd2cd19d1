using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security.Tickets;

/// <summary>Signs tickets (HS256 with the cluster secret). Used by gateways.</summary>
public sealed class TicketIssuer
{
    private readonly JsonWebTokenHandler _handler = new();
    private readonly SigningCredentials _credentials;
    private readonly TimeProvider _time;

    /// <summary>Creates an issuer for a cluster secret of at least 32 bytes.</summary>
    public TicketIssuer(string clusterSecret, TimeProvider? timeProvider = null)
    {
        _credentials = new SigningCredentials(SigningKeys.FromSecret(clusterSecret, "Cluster:Secret"), SecurityAlgorithms.HmacSha256);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Issues a ticket for <paramref name="userId"/> on <paramref name="nodeId"/>.</summary>
    /// <param name="userId">The user.</param>
    /// <param name="nodeId">The only node that will accept it.</param>
    /// <param name="sessionId">A new session, or the session to resume.</param>
    /// <param name="lifetime">How long it is valid.</param>
    /// <param name="resume">True when the client continues <paramref name="sessionId"/> and will send <c>resume</c> first.</param>
    /// <param name="resumeOnly">True when the connection may only continue <paramref name="sessionId"/>, never start a new session (implies <paramref name="resume"/>).</param>
    /// <param name="standbyOf">For a standby connection: the live session it stands by (never with <paramref name="resume"/>).</param>
    /// <returns>The signed token and the ticket it encodes.</returns>
    public (string Token, Ticket Ticket) Issue(string userId, string nodeId, string sessionId, TimeSpan lifetime, bool resume = false, bool resumeOnly = false,
        string? standbyOf = null)
    {
        if (standbyOf is not null && (resume || resumeOnly))
        {
            throw new ArgumentException("a standby ticket starts a new session; it cannot also resume one", nameof(standbyOf));
        }
        resume |= resumeOnly;
        var now = _time.GetUtcNow();
        // JWT times have whole-second precision; round the expiry the same way so both agree.
        var expires = DateTimeOffset.FromUnixTimeSeconds((now + lifetime).ToUnixTimeSeconds());
        var ticketId = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = TicketClaims.Issuer,
            Audience = TicketClaims.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime.AddSeconds(-5),
            Expires = expires.UtcDateTime,
            Claims = new Dictionary<string, object>
            {
                [TicketClaims.Subject] = userId,
                [TicketClaims.Node] = nodeId,
                [TicketClaims.Session] = sessionId,
                [TicketClaims.TicketId] = ticketId,
                [TicketClaims.Resume] = resume,
            },
            SigningCredentials = _credentials,
        };
        if (resumeOnly)
        {
            // Only on the tickets that need it, so every other ticket keeps its size.
            descriptor.Claims[TicketClaims.ResumeOnly] = true;
        }
        if (standbyOf is not null)
        {
            descriptor.Claims[TicketClaims.StandbyOf] = standbyOf;
        }
        var token = _handler.CreateToken(descriptor);
        return (token, new Ticket(userId, nodeId, sessionId, expires, ticketId, resume, resumeOnly, standbyOf));
    }
}
