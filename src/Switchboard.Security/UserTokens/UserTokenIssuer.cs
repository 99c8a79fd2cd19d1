using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security.UserTokens;

/// <summary>Mints HS256 user JWTs, as an application would (used by <c>switchboard token</c> and by tests).</summary>
public sealed class UserTokenIssuer(string secret, TimeProvider? timeProvider = null)
{
    private readonly SigningCredentials _credentials = new(SigningKeys.FromSecret(secret, "Gateway:UserTokens:Secret"), SecurityAlgorithms.HmacSha256);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>A token whose <c>sub</c> is <paramref name="userId"/>, valid for <paramref name="lifetime"/>.</summary>
    public string Issue(string userId, TimeSpan lifetime, string? issuer = null, string? audience = null)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("sub", userId)]),
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now,
            NotBefore = now.AddSeconds(-5),
            Expires = now + lifetime,
            SigningCredentials = _credentials,
        });
    }
}
