using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

public sealed class ProxyCommandTests
{
    [Fact]
    public async Task Proxy_WithoutBackends_ExplainsAndExitsWith2()
    {
        var (exit, output) = await CliProcess.RunAsync("proxy", "--listen", "127.0.0.1:0");

        exit.ShouldBe(2);
        output.ShouldContain("error: The proxy has no backends");
    }

    [Fact]
    public async Task Proxy_ReloadsItsConfigurationFileOnSighup_AndStopsCleanly()
    {
        var folder = Directory.CreateTempSubdirectory("sb-proxy-cli-");
        try
        {
            var config = Path.Combine(folder.FullName, "proxy.json");
            await File.WriteAllTextAsync(config, """{ "Proxy": { "Backends": [ "ws://127.0.0.1:1" ] } }""");
            await using var proxy = CliProcess.Start("proxy", "--config", config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
            await proxy.WaitForLineAsync(l => l.StartsWith("proxy (tunnel, round-robin) listening on 127.0.0.1:", StringComparison.Ordinal), "the proxy to listen");
            proxy.Line(l => l.StartsWith("proxy (", StringComparison.Ordinal)).ShouldContain($"1 backends, {Environment.ProcessorCount} relay threads");

            await File.WriteAllTextAsync(config, """{ "Proxy": { "Backends": [ "ws://127.0.0.1:1", "ws://127.0.0.1:2,weight=2" ], "Policy": "random" } }""");
            proxy.Hangup();
            await proxy.WaitForLineAsync(l => l.Contains("configuration reloaded") && l.Contains("policy random, 2 backends"), "the reload");

            proxy.Interrupt();
            await proxy.WaitForExitAsync("the proxy to stop");
            proxy.ExitCode.ShouldBe(0);
            proxy.Output.ShouldContain("Stopped.");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Proxy_ReloadsWhenItsConfigurationFileChanges_AndRefusesAnInvalidOne()
    {
        var folder = Directory.CreateTempSubdirectory("sb-proxy-cli-");
        try
        {
            var config = Path.Combine(folder.FullName, "proxy.json");
            await File.WriteAllTextAsync(config, """{ "Proxy": { "Backends": [ "ws://127.0.0.1:1" ] } }""");
            await using var proxy = CliProcess.Start("proxy", "--config", config, "--listen", "127.0.0.1:0");
            await proxy.WaitForLineAsync(l => l.Contains("listening on"), "the proxy to listen");

            await File.WriteAllTextAsync(config, """{ "Proxy": { "Backends": [ "ws://127.0.0.1:1", "ws://127.0.0.1:2", "ws://127.0.0.1:3" ] } }""");
            await proxy.WaitForLineAsync(l => l.Contains("configuration reloaded (file changed)") && l.Contains("3 backends"), "the reload on the file change");

            await File.WriteAllTextAsync(config, """{ "Proxy": { "Backends": [ "http://not-a-websocket" ] } }""");
            await proxy.WaitForLineAsync(l => l.Contains("refused, the running configuration stays") && l.Contains("Proxy:Backends"), "the invalid file to be refused");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
