using Microsoft.Extensions.Options;
using Switchboard.Gateway.Placement;

namespace Switchboard.Gateway.Tests;

public sealed class GatewayOptionsValidatorTests
{
    private static readonly GatewayOptionsValidator Validator = new(
        [new LeastLoadedPlacementPolicy(new Random(1)), new LeastConnectionsPlacementPolicy(new Random(1)), new RoundRobinPlacementPolicy()]);

    [Fact]
    public void ValidOptions_Pass()
    {
        Validate(Valid()).Succeeded.ShouldBeTrue();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("too-short")]
    public void ClusterSecret_MissingOrShort_FailsNamingTheSetting(string? secret)
    {
        var options = Valid();
        options.ClusterSecret = secret;

        Failure(options).ShouldContain("Gateway:ClusterSecret");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("short-key-15char")]
    public void ProxyKeys_EmptyOrShorterThan16_FailNamingTheSetting(string key)
    {
        var options = Valid();
        options.ProxyKeys = ["a-good-proxy-key-0123456789", key.Length == 16 ? key[..15] : key];

        Failure(options).ShouldContain("Gateway:ProxyKeys");
        options.ProxyKeys = ["a-good-proxy-key-0123456789", "exactly-16-chars"];
        Validate(options).Succeeded.ShouldBeTrue();
    }

    [Fact]
    public void UnknownPlacementPolicy_FailsListingTheValidNames()
    {
        var options = Valid();
        options.Placement = "fastest";

        var message = Failure(options);

        message.ShouldContain("Gateway:Placement");
        message.ShouldContain("'fastest'");
        message.ShouldContain("least-loaded, least-connections, round-robin");
    }

    [Fact]
    public void NoUserTokenKey_OutsideDevMode_Fails()
    {
        var options = Valid();
        options.UserTokens.Secret = null;

        Failure(options).ShouldContain("Gateway:UserTokens:Secret");

        options.DevMode = true;
        Validate(options).Succeeded.ShouldBeTrue();
    }

    [Fact]
    public void BothUserTokenSecretAndPublicKey_Fail()
    {
        var options = Valid();
        options.UserTokens.PublicKeyPem = "-----BEGIN PUBLIC KEY-----";

        Failure(options).ShouldContain("exactly one of Gateway:UserTokens:Secret");
    }

    [Fact]
    public void NonPositiveDurationsAndCounts_Fail()
    {
        var options = Valid();
        options.TicketLifetime = TimeSpan.Zero;
        options.PendingPlacementTime = TimeSpan.Zero;
        options.HeartbeatInterval = TimeSpan.FromSeconds(-1);
        options.MissedHeartbeatsBeforeEviction = 0;
        options.MaxPublishBytes = 0;

        var message = Failure(options);

        message.ShouldContain("Gateway:TicketLifetime");
        message.ShouldContain("Gateway:PendingPlacementTime");
        message.ShouldContain("Gateway:HeartbeatInterval");
        message.ShouldContain("Gateway:MissedHeartbeatsBeforeEviction");
        message.ShouldContain("Gateway:MaxPublishBytes");
    }

    [Fact]
    public void SilentNodeUsersKeptFor_IsZeroOrPositive()
    {
        var options = Valid();
        options.SilentNodeUsersKeptFor = TimeSpan.FromSeconds(-1);
        Failure(options).ShouldContain("Gateway:SilentNodeUsersKeptFor");

        options.SilentNodeUsersKeptFor = TimeSpan.Zero;
        Validate(options).Succeeded.ShouldBeTrue();
    }

    [Fact]
    public void NegativeWeight_Fails()
    {
        var options = Valid();
        options.CpuWeight = -0.1;

        Failure(options).ShouldContain("Gateway:CpuWeight");
    }

    [Fact]
    public async Task Start_WithInvalidOptions_ThrowsNamingTheSetting()
    {
        var error = await Should.ThrowAsync<OptionsValidationException>(() => GatewayHost.StartAsync(o => o.Placement = "nope"));

        error.Message.ShouldContain("Gateway:Placement");
    }

    private static ValidateOptionsResult Validate(GatewayOptions options) => Validator.Validate(null, options);

    private static string Failure(GatewayOptions options) => Validate(options).FailureMessage ?? "(validation passed)";

    private static GatewayOptions Valid() => new()
    {
        ClusterSecret = GatewayHost.ClusterSecret,
        UserTokens = { Secret = GatewayHost.UserSecret },
        ApiKeys = [GatewayHost.ApiKey],
    };
}
