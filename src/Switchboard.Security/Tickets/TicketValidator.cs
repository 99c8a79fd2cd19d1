using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security.Tickets;

/// <summary>Checks tickets on a node: signed with the cluster secret, not expired, and naming this node.</summary>
public sealed class TicketValidator
{
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;
    private readonly string _nodeId;
    private readonly TimeProvider _time;
    private readonly TimeSpan _clockSkew;

    /// <summary>Creates a validator for one node.</summary>
    /// <param name="clusterSecret">The cluster secret, at least 32 bytes.</param>
    /// <param name="nodeId">This node's id; tickets for other nodes are refused.</param>
    /// <param name="clockSkew">Tolerated clock difference between gateway and node.</param>
    /// <param name="timeProvider">The clock.</param>
    public TicketValidator(string clusterSecret, string nodeId, TimeSpan? clockSkew = null, TimeProvider? timeProvider = null)
    {
        _nodeId = nodeId;
        _time = timeProvider ?? TimeProvider.System;
        _clockSkew = clockSkew ?? TimeSpan.FromSeconds(5);
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKey = SigningKeys.FromSecret(clusterSecret, "Cluster:Secret"),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidIssuer = TicketClaims.Issuer,
            ValidAudience = TicketClaims.Audience,
            // Lifetime is checked below against the injected clock, so tests can run on virtual time.
            ValidateLifetime = false,
            RequireSignedTokens = true,
        };
    }

    /// <summary>Validates a ticket; never throws for bad input.</summary>
    public async ValueTask<TicketValidation> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return new(null, TicketFailure.Missing);
        }
        var result = await _handler.ValidateTokenAsync(token, _parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return new(null, result.Exception switch
            {
                SecurityTokenExpiredException => TicketFailure.Expired,
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => TicketFailure.BadSignature,
                _ => TicketFailure.Malformed,
            });
        }
        var jwt = (JsonWebToken)result.SecurityToken;
        if (!jwt.TryGetPayloadValue<string>(TicketClaims.Subject, out var user) || string.IsNullOrEmpty(user) ||
            !jwt.TryGetPayloadValue<string>(TicketClaims.Node, out var node) || string.IsNullOrEmpty(node) ||
            !jwt.TryGetPayloadValue<string>(TicketClaims.Session, out var session) || string.IsNullOrEmpty(session) ||
            !jwt.TryGetPayloadValue<string>(TicketClaims.TicketId, out var ticketId) || string.IsNullOrEmpty(ticketId))
        {
            return new(null, TicketFailure.Malformed);
        }
        var expires = new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero);
        if (jwt.ValidTo == DateTime.MinValue)
        {
            return new(null, TicketFailure.Malformed);
        }
        if (expires + _clockSkew < _time.GetUtcNow())
        {
            return new(null, TicketFailure.Expired);
        }
        if (!string.Equals(node, _nodeId, StringComparison.Ordinal))
        {
            return new(null, TicketFailure.WrongNode);
        }
        var resume = jwt.TryGetPayloadValue<bool>(TicketClaims.Resume, out var wantsResume) && wantsResume;
        var resumeOnly = jwt.TryGetPayloadValue<bool>(TicketClaims.ResumeOnly, out var onlyResume) && onlyResume;
        var standbyOf = jwt.TryGetPayloadValue<string>(TicketClaims.StandbyOf, out var standing) && !string.IsNullOrEmpty(standing) ? standing : null;
        if (standbyOf is not null && (resume || resumeOnly))
        {
            return new(null, TicketFailure.Malformed);
        }
        return new(new Ticket(user, node, session, expires, ticketId, resume || resumeOnly, resumeOnly, standbyOf), TicketFailure.None);
    }
}
