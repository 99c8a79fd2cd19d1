using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;

namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// <c>webhook</c>: POSTs <c>{"desired":…,"current":…,"nodes":[…],"reason":…}</c> (and the nodes already asked to
/// drain as <c>drained</c>) to the configured URL; a non-2xx answer or a timeout fails the scaling.
/// </summary>
internal sealed class WebhookProvisioner(WebhookProvisionerOptions options, ILogger logger) : IProvisioner, IDisposable
{
    private readonly HttpClient _http = new() { Timeout = options.Timeout };

    public string Name => Provisioners.Webhook;

    public async Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default)
    {
        var body = new WebhookBody(request.Desired, request.Current, request.Nodes, request.Drained, request.Reason);
        try
        {
            using var response = await _http.PostAsJsonAsync(options.Url, body, AutoscaleJsonContext.Default.WebhookBody, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new ProvisionerException($"the webhook {options.Url} answered {(int)response.StatusCode}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new ProvisionerException($"the webhook {options.Url} failed: {e.Message}", e);
        }
        logger.ProvisionerRan(Name, request.Desired);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The JSON the <c>webhook</c> provisioner POSTs.</summary>
internal sealed record WebhookBody(int Desired, int Current, IReadOnlyList<string> Nodes, IReadOnlyList<string> Drained, string Reason);
