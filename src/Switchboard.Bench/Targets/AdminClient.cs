using System.Net.Http.Json;

namespace Switchboard.Bench.Targets;

/// <summary>The gateway's admin API, as the bench uses it: drain a node.</summary>
internal static class AdminClient
{
    /// <summary>The header that carries an admin key.</summary>
    public const string KeyHeader = "X-Admin-Key";

    /// <summary>Asks the gateway to drain <paramref name="nodeId"/> (<c>POST /v1/admin/nodes/{id}/drain</c>); throws with the gateway's answer when refused.</summary>
    public static async Task DrainAsync(Uri gateway, string adminKey, string nodeId, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, $"/v1/admin/nodes/{Uri.EscapeDataString(nodeId)}/drain"))
        {
            Content = JsonContent.Create(new Dictionary<string, object>()),
        };
        request.Headers.Add(KeyHeader, adminKey);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The gateway refused to drain {nodeId}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
        }
    }
}
