using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Switchboard.Proxy.Admin;

/// <summary>
/// The admin port: <c>/healthz</c> (live), <c>/readyz</c> (ready while some backend takes connections), <c>/metrics</c>
/// (Prometheus text) and <c>/admin/backends</c> (JSON), on Kestrel apart from the data path.
/// </summary>
internal static class AdminServer
{
    public static async Task<WebApplication> StartAsync(IPEndPoint endPoint, ProxyMetrics metrics, Func<BackendsResponse> backends, Func<bool> ready, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.WebHost.UseKestrel(k => k.Listen(endPoint));
        builder.WebHost.UseUrls();
        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => ready() ? Results.Text("ready\n") : Results.Text("no backend takes connections\n", statusCode: 503));
        app.MapGet("/metrics", () => Results.Text(metrics.ToPrometheusText(), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/admin/backends", () => Results.Json(backends(), AdminJsonContext.Default.BackendsResponse));
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return app;
    }

    /// <summary>The address Kestrel actually bound (the port when 0 was asked).</summary>
    public static IPEndPoint BoundEndPoint(WebApplication app)
    {
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address);
        return new IPEndPoint(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port);
    }
}
