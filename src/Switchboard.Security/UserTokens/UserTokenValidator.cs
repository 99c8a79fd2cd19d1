using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security.UserTokens;

/// <summary>The outcome of checking a user JWT.</summary>
/// <param name="UserId">The user (the <c>sub</c> claim), when valid.</param>
/// <param name="Error">Why it is not valid, else null.</param>
public readonly record struct UserTokenValidation(string? UserId, string? Error)
{
    /// <summary>True when the token was accepted.</summary>
    public bool IsValid => Error is null;
}

/// <summary>Checks user JWTs (HS256 with a shared secret, or RS256 with a public key); the user id is the <c>sub</c> claim.</summary>
public sealed class UserTokenValidator
{
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;
    private readonly TimeProvider _time;
    private readonly TimeSpan _clockSkew;

    /// <summary>Creates a validator.</summary>
    /// <exception cref="ArgumentException">Neither or both of a secret and a public key are configured, or one is unusable.</exception>
    public UserTokenValidator(UserTokenOptions options, TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _clockSkew = options.ClockSkew;
        var hasSecret = !string.IsNullOrEmpty(options.Secret);
        var hasKey = !string.IsNullOrEmpty(options.PublicKeyPem);
        if (hasSecret == hasKey)
        {
            throw new ArgumentException("Configure exactly one of Gateway:UserTokens:Secret (HS256) and Gateway:UserTokens:PublicKeyPem (RS256).");
        }
        SecurityKey key;
        string algorithm;
        if (hasSecret)
        {
            key = SigningKeys.FromSecret(options.Secret, "Gateway:UserTokens:Secret");
            algorithm = SecurityAlgorithms.HmacSha256;
        }
        else
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(options.PublicKeyPem);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                throw new ArgumentException($"Gateway:UserTokens:PublicKeyPem is not a PEM RSA public key: {e.Message}");
            }
            key = new RsaSecurityKey(rsa);
            algorithm = SecurityAlgorithms.RsaSha256;
        }
        _parameters = new TokenValidationParameters
        {
            IssuerSigningKey = key,
            ValidAlgorithms = [algorithm],
            ValidateIssuer = options.Issuer is not null,
            ValidIssuer = options.Issuer,
            ValidateAudience = options.Audience is not null,
            ValidAudience = options.Audience,
            ValidateLifetime = false,
            RequireSignedTokens = true,
        };
    }

    /// <summary>Validates a token; never throws for bad input.</summary>
    public async ValueTask<UserTokenValidation> ValidateAsync(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return new(null, "no token");
        }
        var result = await _handler.ValidateTokenAsync(token, _parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return new(null, result.Exception switch
            {
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the token's signature is invalid",
                SecurityTokenInvalidAlgorithmException => "the token is signed with an algorithm this gateway does not accept",
                SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
                SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
                _ => "the token is malformed",
            });
        }
        var jwt = (JsonWebToken)result.SecurityToken;
        if (jwt.ValidTo != DateTime.MinValue && new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) + _clockSkew < _time.GetUtcNow())
        {
            return new(null, "the token has expired");
        }
        if (jwt.ValidFrom != DateTime.MinValue && new DateTimeOffset(jwt.ValidFrom, TimeSpan.Zero) - _clockSkew > _time.GetUtcNow())
        {
            return new(null, "the token is not valid yet (nbf is in the future)");
        }
        if (string.IsNullOrEmpty(jwt.Subject))
        {
            return new(null, "the token has no 'sub' claim (the user id)");
        }
        return new(jwt.Subject, null);
    }
}
