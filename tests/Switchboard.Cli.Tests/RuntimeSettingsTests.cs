using System.Text.Json;

namespace Switchboard.Cli.Tests;

/// <summary>
/// The runtime settings the bench measured and the program pins (docs/configuration.md, "Runtime settings"), as the
/// built program's runtime configuration carries them to every role it runs.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Theory]
    [InlineData("System.GC.Server", false)]
    [InlineData("System.GC.Concurrent", true)]
    [InlineData("System.Runtime.TieredPGO", false)]
    public async Task TheProgramsRuntimeConfiguration_PinsTheMeasuredSetting(string key, bool value)
    {
        (await ConfigPropertyAsync(key)).GetBoolean().ShouldBe(value);
    }

    [Fact]
    public async Task TheProgramsRuntimeConfiguration_KeepsThreadPoolWorkersFromSpinning()
    {
        (await ConfigPropertyAsync("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit")).GetInt32().ShouldBe(0);
    }

    private static async Task<JsonElement> ConfigPropertyAsync(string key)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "switchboard.runtimeconfig.json");
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        return config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").GetProperty(key).Clone();
    }
}
