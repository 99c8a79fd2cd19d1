using System.Net;
using System.Text.Json;
using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Admin;

public sealed class AdminTests
{
    [Fact]
    public async Task AdminPort_ServesHealthzMetricsAndTheBackends()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.Backends[0] += ",weight=3";
        options.Backends.Add("ws://127.0.0.1:1");
        options.PassiveFall = 1;
        options.Admin = "127.0.0.1:0";
        await using var proxy = await ProxyServer.StartAsync(options);
        using var tunnel = await ConnectAsync(proxy);
        await RawExchangeAsync(proxy.ListenEndPoint, "nonsense\r\n\r\n");
        // The refused connection is let go once its answer is out, which the client may see first.
        await WaitAsync(() => proxy.Connections == 1, "the refused connection to be let go");
        using var http = new HttpClient { BaseAddress = new Uri($"http://{proxy.AdminEndPoint}"), Timeout = Patience };

        (await http.GetStringAsync("/healthz")).ShouldBe("ok\n");
        (await http.GetStringAsync("/readyz")).ShouldBe("ready\n");

        var metrics = await http.GetStringAsync("/metrics");
        metrics.ShouldContain("# TYPE switchboard_proxy_connections gauge\nswitchboard_proxy_connections 1\n");
        metrics.ShouldContain($"switchboard_proxy_backend_connections{{backend=\"{backend.Url.Authority}\",origin=\"static\"}} 1\n");
        metrics.ShouldContain("switchboard_proxy_refused_total{status=\"400\"} 1\n");
        metrics.ShouldContain("switchboard_proxy_tunnels_total 1\n");
        metrics.ShouldContain("switchboard_proxy_kernel_declined_total 0\n");

        using var json = JsonDocument.Parse(await http.GetStringAsync("/admin/backends"));
        var root = json.RootElement;
        root.GetProperty("mode").GetString().ShouldBe("tunnel");
        root.GetProperty("policy").GetString().ShouldBe("round-robin");
        var first = root.GetProperty("backends")[0];
        first.GetProperty("backend").GetString().ShouldBe(backend.Url.Authority);
        first.GetProperty("state").GetString().ShouldBe("up");
        first.GetProperty("connections").GetInt32().ShouldBe(1);
        first.GetProperty("weight").GetInt32().ShouldBe(3);
        first.GetProperty("origin").GetString().ShouldBe("static");
    }
}

public sealed class ReadinessTests
{
    [Fact]
    public async Task Readyz_Is503_WhileNoBackendTakesConnections()
    {
        var options = Options();
        options.Backends = ["ws://127.0.0.1:1"];
        options.PassiveFall = 1;
        options.Admin = "127.0.0.1:0";
        await using var proxy = await ProxyServer.StartAsync(options);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{proxy.AdminEndPoint}"), Timeout = Patience };
        (await http.GetAsync("/readyz")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await RawExchangeAsync(proxy.ListenEndPoint, Upgrade()); // the failed dial ejects the only backend

        var answer = await http.GetAsync("/readyz");
        answer.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await http.GetAsync("/healthz")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
