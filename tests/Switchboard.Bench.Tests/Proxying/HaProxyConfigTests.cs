using System.Diagnostics;
using Switchboard.Bench.Proxying;
using Xunit.Abstractions;

namespace Switchboard.Bench.Tests.Proxying;

public sealed class HaProxyConfigTests(ITestOutputHelper output)
{
    private static readonly NodeEndpoint[] Nodes =
    [
        new("node-1", new Uri("ws://127.0.0.1:7001/v1/ws")),
        new("node-2", new Uri("ws://127.0.0.1:7002/v1/ws")),
    ];

    [Fact]
    public void Render_RoutesByTheTicketsNodeClaim_WithABackendPerNode()
    {
        var config = HaProxyConfig.Render(18080, 18081, Nodes, 9500, 2, "127.0.2.1");

        config.ShouldContain("bind 127.0.0.1:18080");
        config.ShouldContain("use_backend %[urlp(token),jwt_payload_query('$.node')]");
        config.ShouldContain("backend node-1\n    server node-1 127.0.0.1:7001\n");
        config.ShouldContain("backend node-2\n    server node-2 127.0.0.1:7002\n");
        config.ShouldContain("maxconn 9500");
        config.ShouldContain("source 127.0.2.1");
        config.ShouldContain("bind 127.0.0.1:18081");
    }

    [Fact]
    public async Task Render_IsAConfigurationHaProxyAccepts_WhenItIsInstalled()
    {
        var haproxy = HaProxyEntry.Executable();
        if (haproxy is null)
        {
            output.WriteLine("haproxy is not installed: nothing to check the configuration with (its text is asserted by the test above).");
            return;
        }
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, HaProxyConfig.Render(18080, 18081, Nodes, 9500, 2, null));
            using var check = Process.Start(new ProcessStartInfo(haproxy, ["-c", "-f", file]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var said = await check.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30)) + await check.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await check.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            check.ExitCode.ShouldBe(0, said);
            said.ShouldNotContain("WARNING");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ParseFrontend_ReadsOpenAndTotalSessionsOfTheFrontendLine()
    {
        const string Csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin\nws,FRONTEND,,,12,40,9500,345,0\nnode-1,node-1,0,0,6,20,,170,0\nstats,FRONTEND,,,1,1,9500,3,0\n";

        HaProxyConfig.ParseFrontend(Csv).ShouldBe(new EntryCounts(12, 345));
        HaProxyConfig.ParseFrontend("# pxname,svname\n").ShouldBeNull();
    }
}
