using System.Text;
using Microsoft.Extensions.Options;
using Switchboard.Gateway.Placement;
using Switchboard.Security;
using Switchboard.Security.UserTokens;

namespace Switchboard.Gateway;

/// <summary>Checks <see cref="GatewayOptions"/> at start-up, naming each bad setting by its configuration key.</summary>
internal sealed class GatewayOptionsValidator(IEnumerable<IPlacementPolicy> policies) : IValidateOptions<GatewayOptions>
{
    private const string Prefix = GatewayOptions.SectionName + ":";

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var failures = new List<string>();
        ValidateClusterSecret(options, failures);
        ValidateUserTokens(options, failures);
        ValidatePlacement(options, failures);
        if (options.AdminKeys is null || options.AdminKeys.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.AdminKeys)} must not contain empty keys.");
        }
        var r = options.Rebalance;
        if (r.Interval <= TimeSpan.Zero || r.Cooldown < TimeSpan.Zero || r.Threshold <= 0 || r.Hysteresis < 0 || r.Hysteresis >= r.Threshold
            || r.MaxMovesPerRequest < 1 || r.MinConnections < 0)
        {
            failures.Add($"{Prefix}Rebalance needs Interval > 0, Cooldown >= 0, Threshold > 0, 0 <= Hysteresis < Threshold, MaxMovesPerRequest >= 1 and MinConnections >= 0.");
        }
        options.Autoscale.Validate(Prefix, failures);
        if (options.AdminRequestTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.AdminRequestTimeout)} must be positive.");
        }
        if (options.ProxyKeys is null || options.ProxyKeys.Any(k => string.IsNullOrWhiteSpace(k) || k.Trim().Length < GatewayOptions.MinProxyKeyLength))
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.ProxyKeys)} must not contain empty keys or keys shorter than {GatewayOptions.MinProxyKeyLength} characters (a proxy key lets its holder resume any user's session whose id it knows).");
        }
        if (options.ApiKeys is null || options.ApiKeys.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.ApiKeys)} must not contain empty keys.");
        }
        RequirePositive(options.TicketLifetime, nameof(GatewayOptions.TicketLifetime), failures);
        RequirePositive(options.PendingPlacementTime, nameof(GatewayOptions.PendingPlacementTime), failures);
        RequirePositive(options.HeartbeatInterval, nameof(GatewayOptions.HeartbeatInterval), failures);
        if (options.MissedHeartbeatsBeforeEviction < 1)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.MissedHeartbeatsBeforeEviction)} is {options.MissedHeartbeatsBeforeEviction}; it must be at least 1.");
        }
        if (options.SilentNodeUsersKeptFor < TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.SilentNodeUsersKeptFor)} is {options.SilentNodeUsersKeptFor}; it must be 0 (off) or positive.");
        }
        if (options.MaxPublishBytes < 1)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.MaxPublishBytes)} is {options.MaxPublishBytes}; it must be positive.");
        }
        RequireWeight(options.ConnectionWeight, nameof(GatewayOptions.ConnectionWeight), failures);
        RequireWeight(options.CpuWeight, nameof(GatewayOptions.CpuWeight), failures);
        if (options.ConnectionWeight == 0 && options.CpuWeight == 0)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.ConnectionWeight)} and {Prefix}{nameof(GatewayOptions.CpuWeight)} are both 0; the load score would not tell nodes apart.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateClusterSecret(GatewayOptions options, List<string> failures)
    {
        const string key = Prefix + nameof(GatewayOptions.ClusterSecret);
        if (string.IsNullOrEmpty(options.ClusterSecret))
        {
            failures.Add($"{key} is not set: it must be the cluster's shared secret, at least {SigningKeys.MinSecretBytes} bytes.");
        }
        else if (Encoding.UTF8.GetByteCount(options.ClusterSecret) < SigningKeys.MinSecretBytes)
        {
            failures.Add($"{key} is {Encoding.UTF8.GetByteCount(options.ClusterSecret)} bytes long; it must be at least {SigningKeys.MinSecretBytes}.");
        }
    }

    private static void ValidateUserTokens(GatewayOptions options, List<string> failures)
    {
        var tokens = options.UserTokens;
        if (tokens is null)
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.UserTokens)} must not be null.");
            return;
        }
        var hasSecret = !string.IsNullOrEmpty(tokens.Secret);
        var hasKey = !string.IsNullOrEmpty(tokens.PublicKeyPem);
        if (!hasSecret && !hasKey)
        {
            if (!options.DevMode)
            {
                failures.Add($"Configure exactly one of {Prefix}UserTokens:Secret (HS256) and {Prefix}UserTokens:PublicKeyPem (RS256); neither is set (only {Prefix}DevMode may run without).");
            }
            return;
        }
        try
        {
            // The validator's own checks (both set, short secret, bad PEM) name the setting; surface them now, not on the first request.
            _ = new UserTokenValidator(tokens);
        }
        catch (ArgumentException e)
        {
            failures.Add(e.Message);
        }
    }

    private void ValidatePlacement(GatewayOptions options, List<string> failures)
    {
        var names = policies.Select(p => p.Name).ToArray();
        if (!names.Contains(options.Placement, StringComparer.Ordinal))
        {
            failures.Add($"{Prefix}{nameof(GatewayOptions.Placement)} is '{options.Placement}', which is not a placement policy; valid names: {string.Join(", ", names)}.");
        }
    }

    private static void RequirePositive(TimeSpan value, string property, List<string> failures)
    {
        if (value <= TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{property} is {value}; it must be positive.");
        }
    }

    private static void RequireWeight(double value, string property, List<string> failures)
    {
        if (!double.IsFinite(value) || value < 0)
        {
            failures.Add($"{Prefix}{property} is {value}; it must be a finite number ≥ 0.");
        }
    }
}
