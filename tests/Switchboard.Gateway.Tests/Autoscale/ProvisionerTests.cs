using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Gateway.Autoscale;
using Switchboard.Tests.Common;

namespace Switchboard.Gateway.Tests.Autoscale;

public sealed class ProvisionerTests
{
    private static readonly ScaleRequest Request = new(3, 2, ["n1", "n2"], [], "15 connections: 3 wanted");

    [Fact]
    public async Task Webhook_PostsDesiredCurrentNodesAndReasonAsJson()
    {
        var received = new ConcurrentQueue<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapPost("/scale", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            received.Enqueue(await reader.ReadToEndAsync());
            return Results.NoContent();
        });
        await app.StartAsync().WithTimeout("the webhook receiver to start");
        using var provisioner = new WebhookProvisioner(new WebhookProvisionerOptions { Url = new Uri(new Uri(app.Urls.First()), "/scale") }, NullLogger.Instance);

        await provisioner.ScaleAsync(Request).WithTimeout("the webhook POST");

        received.Count.ShouldBe(1);
        using var json = JsonDocument.Parse(received.Single());
        json.RootElement.GetProperty("desired").GetInt32().ShouldBe(3);
        json.RootElement.GetProperty("current").GetInt32().ShouldBe(2);
        json.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()).ShouldBe(["n1", "n2"]);
        json.RootElement.GetProperty("reason").GetString().ShouldBe("15 connections: 3 wanted");
    }

    [Fact]
    public async Task Webhook_ErrorAnswer_FailsTheScaling()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapPost("/scale", () => Results.StatusCode(500));
        await app.StartAsync().WithTimeout("the webhook receiver to start");
        using var provisioner = new WebhookProvisioner(new WebhookProvisionerOptions { Url = new Uri(new Uri(app.Urls.First()), "/scale") }, NullLogger.Instance);

        var failure = await Should.ThrowAsync<ProvisionerException>(() => provisioner.ScaleAsync(Request).WithTimeout("the webhook POST"));

        failure.Message.ShouldContain("500");
    }

    [Fact]
    public async Task Command_RunsWithTheCountAsArgumentAndEnvironment()
    {
        var file = Path.Combine(Path.GetTempPath(), $"autoscale-{Guid.NewGuid():N}.txt");
        try
        {
            var provisioner = new CommandProvisioner(new CommandProvisionerOptions
            {
                FileName = "/bin/sh",
                Arguments = ["-c", $"echo \"{{count}} $SWITCHBOARD_DESIRED_NODES $SWITCHBOARD_CURRENT_NODES\" > '{file}'"],
            }, NullLogger.Instance);

            await provisioner.ScaleAsync(Request).WithTimeout("the command to run", TimeSpan.FromSeconds(30));

            (await File.ReadAllTextAsync(file)).Trim().ShouldBe("3 3 2");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Command_NonZeroExit_FailsTheScalingWithItsErrorOutput()
    {
        var provisioner = new CommandProvisioner(new CommandProvisionerOptions { FileName = "/bin/sh", Arguments = ["-c", "echo no quota >&2; exit 3"] }, NullLogger.Instance);

        var failure = await Should.ThrowAsync<ProvisionerException>(() => provisioner.ScaleAsync(Request).WithTimeout("the command to run", TimeSpan.FromSeconds(30)));

        failure.Message.ShouldContain("code 3");
        failure.Message.ShouldContain("no quota");
    }
}

public sealed class ProcessProvisionerTests
{
    [Fact]
    public async Task StartsOneChildPerMissingNode_CountsStartingOnes_AndKillsThemWhenDisposed()
    {
        var directory = Directory.CreateTempSubdirectory("autoscale-process-");
        try
        {
            // A stand-in for `switchboard node` ($0 node, $1 --node-id, $2 the id): records its pid under its id, then waits to be killed.
            var provisioner = new ProcessProvisioner(new ProcessProvisionerOptions
            {
                Executable = "/bin/sh",
                Arguments = ["-c", $"echo $$ > '{directory.FullName}'/$2; exec sleep 600"],
            }, NullLogger.Instance);

            await provisioner.ScaleAsync(new ScaleRequest(3, 1, ["n1"], [], "load")).WithTimeout("the children to start");
            await Eventually.TrueAsync(() => directory.GetFiles().Length == 2, "both children to write their pids", TimeSpan.FromSeconds(30));
            directory.GetFiles().Select(f => f.Name).Order().ShouldBe(["autoscaled-1", "autoscaled-2"]);

            // Neither has joined yet: they count as starting, so the same request starts nothing more.
            await provisioner.ScaleAsync(new ScaleRequest(3, 1, ["n1"], [], "load")).WithTimeout("a repeated request");
            provisioner.Running.Count.ShouldBe(2);

            var pids = directory.GetFiles().Select(f => int.Parse(File.ReadAllText(f.FullName).Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            await provisioner.DisposeAsync().AsTask().WithTimeout("the children to be killed", TimeSpan.FromSeconds(30));

            foreach (var pid in pids)
            {
                Directory.Exists($"/proc/{pid}").ShouldBeFalse($"child {pid} outlived the provisioner");
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
