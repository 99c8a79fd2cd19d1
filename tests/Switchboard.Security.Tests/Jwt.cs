using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security.Tests;

/// <summary>Builds and takes apart JWTs the way an attacker or a third-party signer would.</summary>
internal static class Jwt
{
    public static string Sign(SecurityKey key, string algorithm, IDictionary<string, object> claims,
        DateTimeOffset? notBefore = null, DateTimeOffset? expires = null, string? issuer = null, string? audience = null)
    {
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        return handler.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claims,
            NotBefore = notBefore?.UtcDateTime,
            Expires = expires?.UtcDateTime,
            Issuer = issuer,
            Audience = audience,
            SigningCredentials = new SigningCredentials(key, algorithm),
        });
    }

    public static SymmetricSecurityKey Key(string secret) => new(Encoding.UTF8.GetBytes(secret));

    /// <summary>An unsigned token: <c>{"alg":"none"}</c> header, the given payload, empty signature.</summary>
    public static string Unsigned(JsonObject payload) =>
        $"{Encode("""{"alg":"none","typ":"JWT"}""")}.{Encode(payload.ToJsonString())}.";

    public static JsonObject Payload(string token) =>
        JsonNode.Parse(Base64UrlEncoder.Decode(token.Split('.')[1]))!.AsObject();

    /// <summary>Replaces the payload and keeps the original header and signature.</summary>
    public static string WithPayload(string token, JsonObject payload)
    {
        var parts = token.Split('.');
        return $"{parts[0]}.{Encode(payload.ToJsonString())}.{parts[2]}";
    }

    public static string Encode(string json) => Base64UrlEncoder.Encode(json);

    public static long Unix(DateTimeOffset at) => at.ToUnixTimeSeconds();
}
