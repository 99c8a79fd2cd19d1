using Microsoft.IdentityModel.JsonWebTokens;
using Switchboard.Security.UserTokens;

namespace Switchboard.Security.Tests.UserTokens;

public class UserTokenIssuerTests
{
    private const string Secret = "application-secret-0123456789-abcdefghijkl";

    private readonly TestClock _clock = new();

    [Fact]
    public async Task IssuedToken_Validates_WithTheUserId()
    {
        var token = new UserTokenIssuer(Secret, _clock).Issue("bob", TimeSpan.FromMinutes(5));

        var result = await new UserTokenValidator(new UserTokenOptions { Secret = Secret }, _clock).ValidateAsync(token).WithTimeout();

        result.Error.ShouldBeNull();
        result.UserId.ShouldBe("bob");
    }

    [Fact]
    public async Task IssuedToken_WithIssuerAndAudience_PassesThoseChecks()
    {
        var token = new UserTokenIssuer(Secret, _clock).Issue("bob", TimeSpan.FromMinutes(5), issuer: "app", audience: "switchboard");
        var validator = new UserTokenValidator(new UserTokenOptions { Secret = Secret, Issuer = "app", Audience = "switchboard" }, _clock);

        (await validator.ValidateAsync(token).WithTimeout()).UserId.ShouldBe("bob");
    }

    [Fact]
    public void IssuedToken_IsHs256_WithSubAndLifetimeFromTheClock()
    {
        var now = _clock.GetUtcNow();

        var jwt = new JsonWebToken(new UserTokenIssuer(Secret, _clock).Issue("bob", TimeSpan.FromMinutes(5)));

        jwt.Alg.ShouldBe("HS256");
        jwt.Subject.ShouldBe("bob");
        jwt.ValidTo.ShouldBe(DateTimeOffset.FromUnixTimeSeconds((now + TimeSpan.FromMinutes(5)).ToUnixTimeSeconds()).UtcDateTime);
        jwt.IssuedAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds()).UtcDateTime);
    }

    [Fact]
    public async Task IssuedToken_ExpiresWithItsLifetime()
    {
        var token = new UserTokenIssuer(Secret, _clock).Issue("bob", TimeSpan.FromMinutes(5));
        _clock.Advance(TimeSpan.FromMinutes(10));

        (await new UserTokenValidator(new UserTokenOptions { Secret = Secret }, _clock).ValidateAsync(token).WithTimeout()).Error.ShouldBe("the token has expired");
    }

    [Fact]
    public void ShortSecret_Throws_NamingTheSetting()
    {
        Should.Throw<ArgumentException>(() => new UserTokenIssuer("short")).ParamName.ShouldBe("Gateway:UserTokens:Secret");
    }
}
