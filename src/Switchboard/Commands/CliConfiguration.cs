using Microsoft.Extensions.Configuration;

namespace Switchboard.Commands;

/// <summary>
/// The standard .NET configuration stack for every command: <c>appsettings.json</c> in the working folder
/// (or <c>--config FILE</c>), then environment variables <c>SWITCHBOARD__Section__Key</c>; flags given on the
/// command line win over both.
/// </summary>
internal static class CliConfiguration
{
    /// <summary>The user-token secret used when none is configured. Dev only, and said so loudly wherever it is used.</summary>
    public const string DevUserTokenSecret = "switchboard-dev-user-token-secret-not-for-production";

    /// <summary>The publish API key used by <c>switchboard up</c> when none is configured.</summary>
    public const string DevApiKey = "dev-api-key";

    public static IConfiguration Load(string? configFile)
    {
        var builder = new ConfigurationBuilder().SetBasePath(Directory.GetCurrentDirectory());
        if (configFile is null)
        {
            builder.AddJsonFile("appsettings.json", optional: true);
        }
        else
        {
            if (!File.Exists(configFile))
            {
                throw new ArgumentException($"--config {configFile}: no such file.");
            }
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }
        return builder.AddEnvironmentVariables("SWITCHBOARD__").Build();
    }
}
