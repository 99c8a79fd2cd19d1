using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Switchboard.Tests.Common;

namespace Switchboard.Cli.Tests;

/// <summary><c>switchboard up</c> and <c>switchboard token</c> as a user runs them: a real process.</summary>
public sealed class UpCommandTests
{
    [Fact]
    public async Task Up_PrintsItsUrls_ServesClients_AndStopsCleanlyOnCtrlC()
    {
        var port = CliProcess.FreePortRange(3);
        await using var up = CliProcess.Start("up", "--nodes", "2", "--port", port.ToString());
        await up.WaitForLineAsync(l => l.Contains("Press Ctrl+C"), "the cluster to be up");

        up.Output.ShouldContain($"http://127.0.0.1:{port}");
        up.Output.ShouldContain($"node-1   ws://127.0.0.1:{port + 1}/v1/ws");
        up.Output.ShouldContain($"node-2   ws://127.0.0.1:{port + 2}/v1/ws");
        up.Output.ShouldContain("DEV MODE IS ON");
        var gateway = new Uri($"http://127.0.0.1:{port}");

        await using var alice = await RawClient.ConnectAsync(gateway, "alice");
        await using var bob = await RawClient.ConnectAsync(gateway, "bob");
        await alice.CommandAsync("""{"type":"send","to":"user:bob","data":"hi bob","id":"1"}""", "1");
        (await bob.ReceiveAsync("alice's message")).GetProperty("data").GetString().ShouldBe("hi bob");

        up.Interrupt();

        (await alice.ReceiveCloseAsync("the node to close alice")).ShouldBe(1012);
        await up.WaitForExitAsync("switchboard up to exit after Ctrl+C");
        up.ExitCode.ShouldBe(0);
        up.Output.ShouldContain("Stopped.");
    }

    [Fact]
    public async Task Token_MintsAJwtThatTheGatewayOfUpAccepts()
    {
        var port = CliProcess.FreePortRange(2);
        await using var up = CliProcess.Start("up", "--nodes", "1", "--port", port.ToString());
        await up.WaitForLineAsync(l => l.Contains("Press Ctrl+C"), "the cluster to be up");

        var (exit, output) = await CliProcess.RunAsync("token", "--user", "carol");
        exit.ShouldBe(0);
        var token = output.Split('\n').Single(l => l.StartsWith("eyJ", StringComparison.Ordinal)).Trim();

        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/v1/connect");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await http.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain($"ws://127.0.0.1:{port + 1}/v1/ws");
    }

    [Fact]
    public async Task Up_OnAPortInUse_FailsWithAClearMessage()
    {
        var port = CliProcess.FreePortRange(2);
        var blocker = new System.Net.Sockets.TcpListener(IPAddress.Loopback, port + 1);
        blocker.Start();
        try
        {
            var (exit, output) = await CliProcess.RunAsync("up", "--nodes", "1", "--port", port.ToString());
            exit.ShouldBe(2);
            output.ShouldContain($"Port {port + 1}");
            output.ShouldContain("already in use");
        }
        finally
        {
            blocker.Stop();
        }
    }

    [Fact]
    public async Task Up_WithDevModeOffAndNoUserTokenKey_RefusesToStart()
    {
        var port = CliProcess.FreePortRange(2);
        var (exit, output) = await CliProcess.RunAsync(
            new Dictionary<string, string> { ["SWITCHBOARD__Gateway__DevMode"] = "false" }, "up", "--nodes", "1", "--port", port.ToString());
        exit.ShouldBe(2);
        output.ShouldContain("Gateway:UserTokens:Secret");
    }

    [Fact]
    public async Task Up_OutsideDevMode_DoesNotAcceptTheDevApiKey()
    {
        var port = CliProcess.FreePortRange(2);
        await using var up = CliProcess.Start(
            new Dictionary<string, string>
            {
                ["SWITCHBOARD__Gateway__DevMode"] = "false",
                ["SWITCHBOARD__Gateway__UserTokens__Secret"] = "an-application-secret-of-at-least-32-bytes",
            },
            "up", "--nodes", "1", "--port", port.ToString());
        await up.WaitForLineAsync(l => l.Contains("Press Ctrl+C"), "the cluster to be up");
        up.Output.ShouldNotContain("DEV MODE IS ON");

        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/v1/publish")
        {
            Content = new StringContent("""{"to":"all","data":1}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Api-Key", "dev-api-key");
        (await http.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Up_TakesSharedNodeSettingsFromTheEnvironment_ButKeepsEachNodesIdentity()
    {
        var port = CliProcess.FreePortRange(3);
        await using var up = CliProcess.Start(
            new Dictionary<string, string> { ["SWITCHBOARD__Node__NodeId"] = "same", ["SWITCHBOARD__Node__MaxConnections"] = "7" },
            "up", "--nodes", "2", "--port", port.ToString());
        await up.WaitForLineAsync(l => l.Contains("Press Ctrl+C"), "the cluster to be up");

        using var http = new HttpClient { Timeout = Eventually.DefaultTimeout };
        var nodes = await http.GetStringAsync($"http://127.0.0.1:{port}/v1/nodes");
        nodes.ShouldContain("\"nodeId\":\"node-1\"");
        nodes.ShouldContain("\"nodeId\":\"node-2\"");
        nodes.ShouldContain("\"capacity\":7");
    }

    [Fact]
    public async Task Up_OverRabbitMq_RoutesBetweenItsNodesThroughTheBroker()
    {
        await using var broker = await RabbitMqBroker.StartOrShareAsync();
        var port = CliProcess.FreePortRange(3);
        var environment = new Dictionary<string, string> { ["SWITCHBOARD__Backplane__Prefix"] = $"up{Guid.NewGuid():N}" };
        await using var up = CliProcess.Start(environment, "up", "--nodes", "2", "--port", port.ToString(), "--backplane", broker.Url.ToString());
        await up.WaitForLineAsync(l => l.Contains("Press Ctrl+C"), "the cluster to be up");
        up.Output.ShouldContain($"RabbitMQ backplane at amqp://127.0.0.1:{broker.Url.Port}/");
        up.Output.ShouldNotContain("guest:guest");
        var gateway = new Uri($"http://127.0.0.1:{port}");

        await using var alice = await RawClient.ConnectAsync(gateway, "alice");
        await using var bob = await RawClient.ConnectAsync(gateway, "bob");
        await bob.CommandAsync("""{"type":"join","group":"room","id":"j"}""", "j");
        await alice.CommandAsync("""{"type":"send","to":"group:room","data":"hi room","id":"1"}""", "1");
        (await bob.ReceiveAsync("alice's message")).GetProperty("data").GetString().ShouldBe("hi room");

        up.Interrupt();
        await up.WaitForExitAsync("switchboard up to exit after Ctrl+C");
        up.ExitCode.ShouldBe(0);
    }

    [Theory]
    [InlineData("up", "--nodes", "0")]
    [InlineData("up", "--policy", "fastest")]
    [InlineData("up", "--backplane", "redis://localhost")]
    [InlineData("up", "--backplane", "amqp://guest:guest@127.0.0.1:1/")]
    [InlineData("node", "--port", "0")]
    [InlineData("node", "--backplane", "nonsense", "--secret", "s")]
    [InlineData("gateway", "--secret", "0123456789abcdef0123456789abcdef")]
    [InlineData("gateway", "--backplane", "amqp://127.0.0.1:1/", "--secret", "0123456789abcdef0123456789abcdef", "--dev")]
    [InlineData("token", "--user", "")]
    public async Task BadArguments_ExitWithAnError(params string[] arguments)
    {
        var (exit, output) = await CliProcess.RunAsync(arguments);
        exit.ShouldNotBe(0);
        output.ShouldContain("error", Case.Insensitive);
    }
}
