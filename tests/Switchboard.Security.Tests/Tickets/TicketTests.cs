using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;
using Switchboard.Security.Tickets;

namespace Switchboard.Security.Tests.Tickets;

public class TicketTests
{
    private const string Secret = "cluster-secret-0123456789-abcdefghijklmnop";
    private const string OtherSecret = "another-cluster-secret-0123456789-abcdefgh";

    private readonly TestClock _clock = new();

    private TicketIssuer Issuer(string secret = Secret) => new(secret, _clock);

    private TicketValidator Validator(string nodeId = "node-1", TimeSpan? skew = null) => new(Secret, nodeId, skew, _clock);

    [Fact]
    public async Task ValidTicket_RoundTripsUserNodeSessionAndExpiry()
    {
        var (token, issued) = Issuer().Issue("bob", "node-1", "session-42", TimeSpan.FromSeconds(30));

        var result = await Validator().ValidateAsync(token).WithTimeout();

        result.Failure.ShouldBe(TicketFailure.None);
        result.IsValid.ShouldBeTrue();
        result.Ticket.ShouldNotBeNull();
        result.Ticket.UserId.ShouldBe("bob");
        result.Ticket.NodeId.ShouldBe("node-1");
        result.Ticket.SessionId.ShouldBe("session-42");
        result.Ticket.ShouldBe(issued);
        // JWT times are whole seconds; the issuer rounds its answer the same way.
        issued.ExpiresAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds((_clock.GetUtcNow() + TimeSpan.FromSeconds(30)).ToUnixTimeSeconds()));
        result.Describe().ShouldBe("ticket accepted");
    }

    [Fact]
    public async Task ValidTicket_WithNonAsciiClaims_RoundTrips()
    {
        var (token, _) = Issuer().Issue("zoë 😀", "node-1", "sess/ü", TimeSpan.FromMinutes(1));

        var result = await Validator().ValidateAsync(token).WithTimeout();

        result.Ticket!.UserId.ShouldBe("zoë 😀");
        result.Ticket.SessionId.ShouldBe("sess/ü");
    }

    [Fact]
    public async Task Ticket_IsAcceptedUntilExpiryPlusSkew_ThenExpired()
    {
        var (token, issued) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));
        var validator = Validator(skew: TimeSpan.FromSeconds(5));

        _clock.Set(issued.ExpiresAt + TimeSpan.FromSeconds(5));
        (await validator.ValidateAsync(token).WithTimeout()).IsValid.ShouldBeTrue();

        _clock.Advance(TimeSpan.FromSeconds(1));
        var result = await validator.ValidateAsync(token).WithTimeout();

        result.Failure.ShouldBe(TicketFailure.Expired);
        result.Ticket.ShouldBeNull();
        result.Describe().ShouldContain("expired");
    }

    [Fact]
    public async Task ExpiredTicket_IsExpired_WithZeroSkew()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(10));
        _clock.Advance(TimeSpan.FromSeconds(12));

        (await Validator(skew: TimeSpan.Zero).ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.Expired);
    }

    [Fact]
    public async Task ExpiredTicket_IsExpired_LongAfter()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(10));
        _clock.Advance(TimeSpan.FromDays(3));

        (await Validator().ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.Expired);
    }

    [Fact]
    public async Task ForgedTicket_SignedWithAnotherSecret_IsBadSignature()
    {
        var (token, _) = Issuer(OtherSecret).Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));

        var result = await Validator().ValidateAsync(token).WithTimeout();

        result.Failure.ShouldBe(TicketFailure.BadSignature);
        result.Ticket.ShouldBeNull();
    }

    [Fact]
    public async Task TicketForAnotherNode_IsWrongNode()
    {
        var (token, _) = Issuer().Issue("bob", "node-2", "s", TimeSpan.FromSeconds(30));

        var result = await Validator("node-1").ValidateAsync(token).WithTimeout();

        result.Failure.ShouldBe(TicketFailure.WrongNode);
        result.Ticket.ShouldBeNull();
        result.Describe().ShouldContain("another node");
    }

    [Fact]
    public async Task NodeIdComparison_IsOrdinal()
    {
        var (token, _) = Issuer().Issue("bob", "Node-1", "s", TimeSpan.FromSeconds(30));

        (await Validator("node-1").ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.WrongNode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public async Task MissingTicket_IsMissing(string? token)
    {
        var result = await Validator().ValidateAsync(token).WithTimeout();

        result.Failure.ShouldBe(TicketFailure.Missing);
        result.Describe().ShouldContain("missing");
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("a.b.c")]
    [InlineData("...")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ")]
    [InlineData("not a jwt at all, with spaces")]
    [InlineData("%%%.%%%.%%%")]
    public async Task Garbage_IsMalformed(string token)
    {
        (await Validator().ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.Malformed);
    }

    [Theory]
    [InlineData("node", "node-1")]
    [InlineData("sub", "mallory")]
    [InlineData("sid", "someone-elses-session")]
    public async Task TamperedPayload_IsRefused(string claim, string value)
    {
        var (token, _) = Issuer().Issue("bob", "node-2", "s", TimeSpan.FromSeconds(30));
        var payload = Jwt.Payload(token);
        payload[claim] = value;

        var result = await Validator().ValidateAsync(Jwt.WithPayload(token, payload)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Failure.ShouldBeOneOf(TicketFailure.BadSignature, TicketFailure.Malformed);
    }

    [Fact]
    public async Task TamperedExpiry_IsRefused()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));
        var payload = Jwt.Payload(token);
        payload["exp"] = Jwt.Unix(_clock.GetUtcNow() + TimeSpan.FromDays(365));
        _clock.Advance(TimeSpan.FromMinutes(5));

        var result = await Validator().ValidateAsync(Jwt.WithPayload(token, payload)).WithTimeout();

        result.Failure.ShouldBeOneOf(TicketFailure.BadSignature, TicketFailure.Malformed);
    }

    [Fact]
    public async Task TamperedSignature_IsBadSignature()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));
        var parts = token.Split('.');
        var signature = Base64UrlEncoder.DecodeBytes(parts[2]);
        signature[0] ^= 0x01;

        var result = await Validator().ValidateAsync($"{parts[0]}.{parts[1]}.{Base64UrlEncoder.Encode(signature)}").WithTimeout();

        result.Failure.ShouldBe(TicketFailure.BadSignature);
    }

    [Fact]
    public async Task SignatureStripped_IsRefused()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));
        var parts = token.Split('.');

        var result = await Validator().ValidateAsync($"{parts[0]}.{parts[1]}.").WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Failure.ShouldBeOneOf(TicketFailure.BadSignature, TicketFailure.Malformed);
    }

    [Fact]
    public async Task UnsignedAlgNoneTicket_IsRefused()
    {
        var now = _clock.GetUtcNow();
        var payload = new JsonObject
        {
            ["iss"] = "switchboard",
            ["aud"] = "switchboard.node",
            ["sub"] = "mallory",
            ["node"] = "node-1",
            ["sid"] = "s",
            ["iat"] = Jwt.Unix(now),
            ["nbf"] = Jwt.Unix(now) - 5,
            ["exp"] = Jwt.Unix(now) + 60,
        };

        var result = await Validator().ValidateAsync(Jwt.Unsigned(payload)).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Ticket.ShouldBeNull();
        result.Failure.ShouldBeOneOf(TicketFailure.BadSignature, TicketFailure.Malformed);
    }

    [Fact]
    public async Task AlgNoneHeaderOnGenuinePayload_IsRefused()
    {
        var (token, _) = Issuer().Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));
        var parts = token.Split('.');

        var result = await Validator().ValidateAsync($"{Jwt.Encode("""{"alg":"none","typ":"JWT"}""")}.{parts[1]}.{parts[2]}").WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Failure.ShouldBeOneOf(TicketFailure.BadSignature, TicketFailure.Malformed);
    }

    [Theory]
    [InlineData("sub")]
    [InlineData("node")]
    [InlineData("sid")]
    public async Task ProperlySignedTicketMissingAClaim_IsMalformed(string missing)
    {
        var now = _clock.GetUtcNow();
        var claims = new Dictionary<string, object> { ["sub"] = "bob", ["node"] = "node-1", ["sid"] = "s" };
        claims.Remove(missing);
        var token = Jwt.Sign(Jwt.Key(Secret), SecurityAlgorithms.HmacSha256, claims,
            notBefore: now.AddSeconds(-5), expires: now.AddMinutes(1), issuer: "switchboard", audience: "switchboard.node");

        (await Validator().ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.Malformed);
    }

    [Fact]
    public async Task ProperlySignedTicketWithoutExpiry_IsMalformed()
    {
        var claims = new Dictionary<string, object> { ["sub"] = "bob", ["node"] = "node-1", ["sid"] = "s" };
        var token = Jwt.Sign(Jwt.Key(Secret), SecurityAlgorithms.HmacSha256, claims, issuer: "switchboard", audience: "switchboard.node");

        (await Validator().ValidateAsync(token).WithTimeout()).Failure.ShouldBe(TicketFailure.Malformed);
    }

    [Theory]
    [InlineData("someone-else", "switchboard.node")]
    [InlineData("switchboard", "some-app")]
    [InlineData(null, null)]
    public async Task TokenWithWrongIssuerOrAudience_IsRefused(string? issuer, string? audience)
    {
        // e.g. a user JWT that happens to be signed with the same secret must not pass as a ticket
        var now = _clock.GetUtcNow();
        var claims = new Dictionary<string, object> { ["sub"] = "bob", ["node"] = "node-1", ["sid"] = "s" };
        var token = Jwt.Sign(Jwt.Key(Secret), SecurityAlgorithms.HmacSha256, claims,
            notBefore: now.AddSeconds(-5), expires: now.AddMinutes(1), issuer: issuer, audience: audience);

        var result = await Validator().ValidateAsync(token).WithTimeout();

        result.IsValid.ShouldBeFalse();
        result.Failure.ShouldBe(TicketFailure.Malformed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("0123456789012345678901234567890")] // 31 bytes
    public void ShortSecret_Throws_NamingTheSetting(string secret)
    {
        var fromIssuer = Should.Throw<ArgumentException>(() => new TicketIssuer(secret));
        fromIssuer.ParamName.ShouldBe("Cluster:Secret");
        fromIssuer.Message.ShouldContain("Cluster:Secret");

        var fromValidator = Should.Throw<ArgumentException>(() => new TicketValidator(secret, "node-1"));
        fromValidator.ParamName.ShouldBe("Cluster:Secret");
        fromValidator.Message.ShouldContain("Cluster:Secret");
    }

    [Fact]
    public void NullSecret_Throws_NamingTheSetting()
    {
        Should.Throw<ArgumentException>(() => new TicketIssuer(null!)).Message.ShouldContain("Cluster:Secret");
    }

    [Theory]
    [InlineData("01234567890123456789012345678901")] // 32 ASCII bytes
    [InlineData("éééééééééééééééé")] // 16 characters, 32 UTF-8 bytes
    public async Task SecretOf32Bytes_IsEnough(string secret)
    {
        var (token, _) = new TicketIssuer(secret, _clock).Issue("bob", "node-1", "s", TimeSpan.FromSeconds(30));

        (await new TicketValidator(secret, "node-1", timeProvider: _clock).ValidateAsync(token).WithTimeout()).IsValid.ShouldBeTrue();
    }

    [Fact]
    public void SecretLength_IsCountedInUtf8Bytes()
    {
        // 15 two-byte characters are 30 bytes: too short.
        Should.Throw<ArgumentException>(() => new TicketIssuer(new string('é', 15)));
    }

    [Theory]
    [InlineData(TicketFailure.Missing)]
    [InlineData(TicketFailure.Malformed)]
    [InlineData(TicketFailure.BadSignature)]
    [InlineData(TicketFailure.Expired)]
    [InlineData(TicketFailure.WrongNode)]
    public void Describe_FitsInAWebSocketCloseReason(TicketFailure failure)
    {
        var reason = new TicketValidation(null, failure).Describe();

        System.Text.Encoding.UTF8.GetByteCount(reason).ShouldBeLessThanOrEqualTo(123);
        reason.ShouldNotBe("ticket accepted");
    }
}
