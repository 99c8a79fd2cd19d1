using Microsoft.Extensions.Configuration;
using Switchboard.Gateway;

namespace Switchboard.Commands;

/// <summary>
/// The gateway's security settings as <c>up</c> and <c>gateway</c> resolve them: dev mode, publish API keys and the
/// user-token key. The well-known dev secret and dev API key are used only in dev mode.
/// </summary>
/// <param name="DevMode">Whether unsigned connect bodies are accepted.</param>
/// <param name="ApiKeys">Publish API keys; empty means publishing answers 401.</param>
/// <param name="UsesDevSecret">True when user JWTs are checked with the dev secret (nothing configured, dev mode).</param>
internal sealed record GatewaySettings(bool DevMode, string[] ApiKeys, bool UsesDevSecret)
{
    /// <summary>Resolves the settings; returns an error message instead when they would be unsafe.</summary>
    /// <param name="configuration">The command's configuration.</param>
    /// <param name="devModeDefault">Dev mode when neither the flag nor <c>Gateway:DevMode</c> says.</param>
    /// <param name="apiKeyFlags">Keys given as flags; they replace configured ones.</param>
    /// <param name="devModeFlag">True when a <c>--dev</c> flag was given; flags win over configuration.</param>
    public static (GatewaySettings? Settings, string? Error) Resolve(IConfiguration configuration, bool devModeDefault, string[] apiKeyFlags, bool devModeFlag = false)
    {
        var devMode = devModeFlag || configuration.GetValue("Gateway:DevMode", devModeDefault);
        var apiKeys = apiKeyFlags.Length > 0 ? apiKeyFlags
            : configuration.GetSection("Gateway:ApiKeys").Get<string[]>() is { Length: > 0 } keys ? keys
            : devMode ? [CliConfiguration.DevApiKey] : [];
        var usesDevSecret = configuration["Gateway:UserTokens:Secret"] is null && configuration["Gateway:UserTokens:PublicKeyPem"] is null;
        if (usesDevSecret && !devMode)
        {
            // Outside dev mode the well-known dev secret would let anyone mint any user's token.
            return (null, "Gateway:DevMode is off, so configure Gateway:UserTokens:Secret or Gateway:UserTokens:PublicKeyPem.");
        }
        return (new GatewaySettings(devMode, apiKeys, usesDevSecret), null);
    }

    /// <summary>Applies the settings (after the configuration section has been bound).</summary>
    public void ApplyTo(GatewayOptions options)
    {
        options.DevMode = DevMode;
        options.ApiKeys = ApiKeys;
        if (UsesDevSecret)
        {
            options.UserTokens.Secret = CliConfiguration.DevUserTokenSecret;
        }
    }

    /// <summary>Prints the loud dev-mode notices.</summary>
    public void PrintNotices()
    {
        if (DevMode)
        {
            Console.WriteLine("  !!! DEV MODE IS ON: the gateway accepts UNSIGNED {\"userId\":…} bodies from anyone. !!!");
            Console.WriteLine("  !!! Never expose this to a network. Turn it off with SWITCHBOARD__Gateway__DevMode=false. !!!");
            Console.WriteLine();
        }
        if (UsesDevSecret)
        {
            Console.WriteLine("  User JWTs are checked with the DEV secret; `switchboard token --user alice` mints one.");
            Console.WriteLine();
        }
    }
}
