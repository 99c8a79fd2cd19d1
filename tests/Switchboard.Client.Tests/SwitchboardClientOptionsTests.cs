namespace Switchboard.Client.Tests;

public sealed class SwitchboardClientOptionsTests
{
    private static SwitchboardClientOptions Valid() => new()
    {
        GatewayUrl = new Uri("http://127.0.0.1:7000"),
        DevUserId = "alice",
    };

    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new SwitchboardClientOptions();
        options.ReconnectBaseDelay.ShouldBe(TimeSpan.FromMilliseconds(100));
        options.ReconnectMaxDelay.ShouldBe(TimeSpan.FromSeconds(10));
        options.CommandTimeout.ShouldBe(TimeSpan.FromSeconds(10));
        options.ConnectTimeout.ShouldBe(TimeSpan.FromSeconds(10));
        options.MaxConnectAttempts.ShouldBe(10);
        options.AutoReconnect.ShouldBeTrue();
        options.MaxFrameBytes.ShouldBe(1024 * 1024 + 4 * 1024);
        options.TimeProvider.ShouldBe(TimeProvider.System);
    }

    [Fact]
    public void Validate_DevMode_Passes()
    {
        Valid().Validate();
    }

    [Fact]
    public void Validate_TokenProvider_Passes()
    {
        var options = Valid();
        options.DevUserId = null;
        options.TokenProvider = _ => ValueTask.FromResult("jwt");
        options.Validate();
    }

    [Fact]
    public void Validate_WithoutGatewayUrl_NamesIt()
    {
        var options = Valid();
        options.GatewayUrl = null;
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.GatewayUrl));
    }

    [Theory]
    [InlineData("ws://127.0.0.1:7000")]
    [InlineData("ftp://127.0.0.1")]
    public void Validate_GatewayUrlNotHttp_Throws(string url)
    {
        var options = Valid();
        options.GatewayUrl = new Uri(url);
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.GatewayUrl));
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:9000")]
    [InlineData("ws://127.0.0.1:9000/?token=x")]
    public void Validate_ProxyUrlNotAWebSocketAddressWithoutQuery_Throws(string url)
    {
        var options = Valid();
        options.ProxyUrl = new Uri(url);
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.ProxyUrl));
    }

    [Fact]
    public void Validate_ProxyUrl_WebSocketAddress_IsAccepted()
    {
        var options = Valid();
        options.ProxyUrl = new Uri("ws://127.0.0.1:9000/");
        Should.NotThrow(options.Validate);
    }

    [Fact]
    public void Validate_BothTokenProviderAndDevUserId_Throws()
    {
        var options = Valid();
        options.TokenProvider = _ => ValueTask.FromResult("jwt");
        Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("exactly one");
    }

    [Fact]
    public void Validate_NeitherTokenProviderNorDevUserId_Throws()
    {
        var options = Valid();
        options.DevUserId = null;
        Should.Throw<ArgumentException>(options.Validate).Message.ShouldContain("exactly one");
    }

    [Fact]
    public void Validate_BlankDevUserId_Throws()
    {
        var options = Valid();
        options.DevUserId = " ";
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.DevUserId));
    }

    [Theory]
    [InlineData(nameof(SwitchboardClientOptions.ReconnectBaseDelay))]
    [InlineData(nameof(SwitchboardClientOptions.ReconnectMaxDelay))]
    [InlineData(nameof(SwitchboardClientOptions.CommandTimeout))]
    [InlineData(nameof(SwitchboardClientOptions.ConnectTimeout))]
    public void Validate_ZeroDuration_NamesIt(string property)
    {
        var options = Valid();
        typeof(SwitchboardClientOptions).GetProperty(property)!.SetValue(options, TimeSpan.Zero);
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(property);
    }

    [Fact]
    public void Validate_MaxDelayBelowBase_Throws()
    {
        var options = Valid();
        options.ReconnectBaseDelay = TimeSpan.FromSeconds(2);
        options.ReconnectMaxDelay = TimeSpan.FromSeconds(1);
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.ReconnectMaxDelay));
    }

    [Fact]
    public void Validate_NoConnectAttempts_Throws()
    {
        var options = Valid();
        options.MaxConnectAttempts = 0;
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.MaxConnectAttempts));
    }

    [Fact]
    public void Validate_TinyMaxFrame_Throws()
    {
        var options = Valid();
        options.MaxFrameBytes = 10;
        Should.Throw<ArgumentException>(options.Validate).ParamName.ShouldBe(nameof(SwitchboardClientOptions.MaxFrameBytes));
    }

    [Fact]
    public void Constructor_RejectsInvalidOptions()
    {
        Should.Throw<ArgumentException>(() => new SwitchboardClient(new SwitchboardClientOptions { DevUserId = "alice" }));
    }
}
