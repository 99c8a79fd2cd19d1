using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Switchboard.Security.UserTokens;

namespace Switchboard.Security.Tests.UserTokens;

public class UserTokenValidatorTests
{
    private const string Secret = "application-secret-0123456789-abcdefghijkl";
    private const string OtherSecret = "some-other-secret-0123456789-abcdefghijklm";
    private const string SecretSetting = "Gateway:UserTokens:Secret";

    private readonly TestClock _clock = new();

    private UserTokenValidator HsValidator(string? issuer = null, string? audience = null) =>
        new(new UserTokenOptions { Secret = Secret, Issuer = issuer, Audience = audience }, _clock);

    private string HsToken(IDictionary<string, object> claims, TimeSpan? lifetime = null, string? issuer = null, string? audience = null, string secret = Secret)
    {
        var now = _clock.GetUtcNow();
        return Jwt.Sign(Jwt.Key(secret), SecurityAlgorithms.HmacSha256, claims,
            notBefore: now.AddSeconds(-5), expires: now + (lifetime ?? TimeSpan.FromMinutes(10)), issuer: issuer, audience: audience);
    }

    private static Dictionary<string, object> Sub(string user) => new() { ["sub"] = user };

    // ---- HS256 ----

    [Fact]
    public async Task Hs256_ValidToken_GivesUserId()
    {
        var result = await HsValidator().ValidateAsync(HsToken(Sub("bob"))).WithTimeout();

        result.Error.ShouldBeNull();
        result.IsValid.ShouldBeTrue();
        result.UserId.ShouldBe("bob");
    }

    [Fact]
    public async Task Hs256_OtherClaims_AreIgnored()
    {
        var claims = new Dictionary<string, object> { ["sub"] = "bob", ["name"] = "Bob", ["role"] = "admin", ["email"] = "b@x" };

        (await HsValidator().ValidateAsync(HsToken(claims)).WithTimeout()).UserId.ShouldBe("bob");
    }

    [Fact]
    public async Task Hs256_WrongSecret_IsRefused()
    {
        var result = await HsValidator().ValidateAsync(HsToken(Sub("bob"), secret: OtherSecret)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
        result.Error.ShouldBe("the token's signature is invalid");
    }

    [Fact]
    public async Task Hs256_TamperedSubject_IsRefused()
    {
        var token = HsToken(Sub("bob"));
        var payload = Jwt.Payload(token);
        payload["sub"] = "admin";

        var result = await HsValidator().ValidateAsync(Jwt.WithPayload(token, payload)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
    }

    [Fact]
    public async Task ExpiredToken_IsRefused_AfterClockSkew()
    {
        var validator = new UserTokenValidator(new UserTokenOptions { Secret = Secret, ClockSkew = TimeSpan.FromSeconds(30) }, _clock);
        var issuedAt = _clock.GetUtcNow();
        var token = HsToken(Sub("bob"), lifetime: TimeSpan.FromMinutes(1));
        var expiry = DateTimeOffset.FromUnixTimeSeconds(Jwt.Unix(issuedAt + TimeSpan.FromMinutes(1)));

        _clock.Set(expiry + TimeSpan.FromSeconds(30));
        (await validator.ValidateAsync(token).WithTimeout()).UserId.ShouldBe("bob");

        _clock.Advance(TimeSpan.FromSeconds(1));
        var result = await validator.ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
        result.Error.ShouldBe("the token has expired");
    }

    [Fact]
    public async Task ExpiredToken_IsRefused_LongAfter()
    {
        var token = HsToken(Sub("bob"), lifetime: TimeSpan.FromMinutes(1));
        _clock.Advance(TimeSpan.FromDays(2));

        (await HsValidator().ValidateAsync(token).WithTimeout()).Error.ShouldBe("the token has expired");
    }

    [Theory]
    [InlineData(10)]
    [InlineData(60 * 24)]
    public async Task NotYetValidToken_IsRefused(int minutesAhead)
    {
        var now = _clock.GetUtcNow();
        var token = Jwt.Sign(Jwt.Key(Secret), SecurityAlgorithms.HmacSha256, Sub("bob"),
            notBefore: now.AddMinutes(minutesAhead), expires: now.AddMinutes(minutesAhead + 10));

        var result = await HsValidator().ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public async Task MissingOrEmptySub_IsRefused(string? sub)
    {
        var claims = new Dictionary<string, object> { ["name"] = "Bob" };
        if (sub is not null)
        {
            claims["sub"] = sub;
        }

        var result = await HsValidator().ValidateAsync(HsToken(claims)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
        result.Error!.ShouldContain("sub");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task MissingToken_IsRefused(string? token)
    {
        var result = await HsValidator().ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Error.ShouldBe("no token");
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("a.b.c")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ")]
    [InlineData("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.xyz")]
    public async Task MalformedToken_IsRefused_WithoutThrowing(string token)
    {
        var result = await HsValidator().ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
        result.Error.ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("a.b.c")]
    public async Task MalformedToken_SaysMalformed(string token)
    {
        (await HsValidator().ValidateAsync(token).WithTimeout()).Error.ShouldBe("the token is malformed");
    }

    [Fact]
    public async Task UnsignedAlgNoneToken_IsRefused()
    {
        var now = _clock.GetUtcNow();
        var token = Jwt.Unsigned(new JsonObject { ["sub"] = "mallory", ["exp"] = Jwt.Unix(now) + 600 });

        var result = await HsValidator().ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
    }

    [Fact]
    public async Task AlgNoneToken_IsRefusedByRs256Validator()
    {
        using var rsa = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = rsa.ExportSubjectPublicKeyInfoPem() }, _clock);
        var token = Jwt.Unsigned(new JsonObject { ["sub"] = "mallory", ["exp"] = Jwt.Unix(_clock.GetUtcNow()) + 600 });

        (await validator.ValidateAsync(token).WithTimeout()).IsValid.ShouldBeFalse();
    }

    [Fact]
    public async Task Hs512Token_IsRefused_OnlyHs256IsAccepted()
    {
        var longSecret = Secret + Secret; // HS512 wants 64 bytes
        var validator = new UserTokenValidator(new UserTokenOptions { Secret = longSecret }, _clock);
        var now = _clock.GetUtcNow();
        var token = Jwt.Sign(Jwt.Key(longSecret), SecurityAlgorithms.HmacSha512, Sub("bob"), expires: now.AddMinutes(5));

        var result = await validator.ValidateAsync(token).WithTimeout();

        // The handler reports the algorithm mismatch as a signature failure, so only refusal is asserted.
        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
    }

    // ---- RS256 ----

    private static string RsToken(RSA rsa, IDictionary<string, object> claims, DateTimeOffset now, string? issuer = null, string? audience = null) =>
        Jwt.Sign(new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256, claims,
            notBefore: now.AddSeconds(-5), expires: now.AddMinutes(10), issuer: issuer, audience: audience);

    [Fact]
    public async Task Rs256_ValidToken_GivesUserId()
    {
        using var signer = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = signer.ExportSubjectPublicKeyInfoPem() }, _clock);

        var result = await validator.ValidateAsync(RsToken(signer, Sub("alice"), _clock.GetUtcNow())).WithTimeout();

        result.Error.ShouldBeNull();
        result.UserId.ShouldBe("alice");
    }

    [Fact]
    public async Task Rs256_PkcsOnePublicKeyPem_IsAccepted()
    {
        using var signer = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = signer.ExportRSAPublicKeyPem() }, _clock);

        (await validator.ValidateAsync(RsToken(signer, Sub("alice"), _clock.GetUtcNow())).WithTimeout()).UserId.ShouldBe("alice");
    }

    [Fact]
    public async Task Rs256_TokenSignedWithAnotherKey_IsRefused()
    {
        using var configured = RSA.Create(2048);
        using var attacker = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = configured.ExportSubjectPublicKeyInfoPem() }, _clock);

        var result = await validator.ValidateAsync(RsToken(attacker, Sub("alice"), _clock.GetUtcNow())).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Error.ShouldBe("the token's signature is invalid");
    }

    [Fact]
    public async Task Rs256_ExpiredToken_IsRefused()
    {
        using var signer = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = signer.ExportSubjectPublicKeyInfoPem() }, _clock);
        var token = RsToken(signer, Sub("alice"), _clock.GetUtcNow());
        _clock.Advance(TimeSpan.FromHours(1));

        (await validator.ValidateAsync(token).WithTimeout()).Error.ShouldBe("the token has expired");
    }

    [Fact]
    public async Task Rs256Validator_RefusesHs256TokenKeyedWithThePublicKeyText()
    {
        // The classic algorithm-confusion attack: HMAC-sign with the (public) PEM as the secret.
        using var rsa = RSA.Create(2048);
        var pem = rsa.ExportSubjectPublicKeyInfoPem();
        var validator = new UserTokenValidator(new UserTokenOptions { PublicKeyPem = pem }, _clock);
        var now = _clock.GetUtcNow();
        var token = Jwt.Sign(Jwt.Key(pem), SecurityAlgorithms.HmacSha256, Sub("mallory"), expires: now.AddMinutes(5));

        var result = await validator.ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.UserId.ShouldBeNull();
    }

    [Fact]
    public async Task Hs256Validator_RefusesRs256Token()
    {
        using var rsa = RSA.Create(2048);

        (await HsValidator().ValidateAsync(RsToken(rsa, Sub("alice"), _clock.GetUtcNow())).WithTimeout()).IsValid.ShouldBeFalse();
    }

    // ---- issuer and audience ----

    [Fact]
    public async Task ConfiguredIssuer_MatchingToken_IsAccepted()
    {
        (await HsValidator(issuer: "https://app.example").ValidateAsync(HsToken(Sub("bob"), issuer: "https://app.example")).WithTimeout())
            .UserId.ShouldBe("bob");
    }

    [Theory]
    [InlineData("https://evil.example")]
    [InlineData(null)]
    public async Task ConfiguredIssuer_OtherOrMissingIssuer_IsRefused(string? tokenIssuer)
    {
        var result = await HsValidator(issuer: "https://app.example").ValidateAsync(HsToken(Sub("bob"), issuer: tokenIssuer)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Error.ShouldBe("the token's issuer is not accepted");
    }

    [Fact]
    public async Task ConfiguredAudience_MatchingToken_IsAccepted()
    {
        (await HsValidator(audience: "switchboard").ValidateAsync(HsToken(Sub("bob"), audience: "switchboard")).WithTimeout())
            .UserId.ShouldBe("bob");
    }

    [Theory]
    [InlineData("another-service")]
    [InlineData(null)]
    public async Task ConfiguredAudience_OtherOrMissingAudience_IsRefused(string? tokenAudience)
    {
        var result = await HsValidator(audience: "switchboard").ValidateAsync(HsToken(Sub("bob"), audience: tokenAudience)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Error.ShouldBe("the token's audience is not accepted");
    }

    [Fact]
    public async Task UnconfiguredIssuerAndAudience_AcceptAny()
    {
        (await HsValidator().ValidateAsync(HsToken(Sub("bob"), issuer: "whoever", audience: "whatever")).WithTimeout()).UserId.ShouldBe("bob");
    }

    [Fact]
    public async Task Rs256_ConfiguredIssuerAndAudience_AreChecked()
    {
        using var signer = RSA.Create(2048);
        var validator = new UserTokenValidator(new UserTokenOptions
        {
            PublicKeyPem = signer.ExportSubjectPublicKeyInfoPem(),
            Issuer = "https://app.example",
            Audience = "switchboard",
        }, _clock);
        var now = _clock.GetUtcNow();

        (await validator.ValidateAsync(RsToken(signer, Sub("alice"), now, "https://app.example", "switchboard")).WithTimeout()).UserId.ShouldBe("alice");
        (await validator.ValidateAsync(RsToken(signer, Sub("alice"), now, "https://other", "switchboard")).WithTimeout()).IsValid.ShouldBeFalse();
        (await validator.ValidateAsync(RsToken(signer, Sub("alice"), now, "https://app.example", "other")).WithTimeout()).IsValid.ShouldBeFalse();
    }

    // ---- configuration ----

    [Fact]
    public void BothSecretAndPublicKey_Throws()
    {
        using var rsa = RSA.Create(2048);

        var e = Should.Throw<ArgumentException>(() =>
            new UserTokenValidator(new UserTokenOptions { Secret = Secret, PublicKeyPem = rsa.ExportSubjectPublicKeyInfoPem() }));
        e.Message.ShouldContain(SecretSetting);
        e.Message.ShouldContain("PublicKeyPem");
    }

    [Fact]
    public void NeitherSecretNorPublicKey_Throws()
    {
        Should.Throw<ArgumentException>(() => new UserTokenValidator(new UserTokenOptions())).Message.ShouldContain(SecretSetting);
        Should.Throw<ArgumentException>(() => new UserTokenValidator(new UserTokenOptions { Secret = "", PublicKeyPem = "" }));
    }

    [Fact]
    public void ShortSecret_Throws_NamingTheSetting()
    {
        var e = Should.Throw<ArgumentException>(() => new UserTokenValidator(new UserTokenOptions { Secret = "too-short" }));

        e.ParamName.ShouldBe(SecretSetting);
        e.Message.ShouldContain(SecretSetting);
    }

    [Fact]
    public void PublicKeyThatIsNotPem_ThrowsArgumentException()
    {
        var e = Should.Throw<ArgumentException>(() => new UserTokenValidator(new UserTokenOptions { PublicKeyPem = "not a pem" }));

        e.Message.ShouldContain("PublicKeyPem");
    }

    [Theory]
    [InlineData("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")]
    [InlineData("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----")]
    public void PublicKeyPemWithUnusableContents_ThrowsArgumentException(string pem)
    {
        var e = Should.Throw<ArgumentException>(() => new UserTokenValidator(new UserTokenOptions { PublicKeyPem = pem }));

        e.Message.ShouldContain("PublicKeyPem");
    }

    [Fact]
    public void EcPublicKeyPem_IsRefusedAtStartUp()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        Should.Throw<Exception>(() => new UserTokenValidator(new UserTokenOptions { PublicKeyPem = ec.ExportSubjectPublicKeyInfoPem() }));
    }
}
