using System.Net.Http.Json;
using System.Text.Json;

namespace Switchboard.Proxy.Failover;

/// <summary>A resume placement: the node's WebSocket URL, the ticket, the node id.</summary>
internal sealed record ResumePlacement(Uri Url, string Token, string Node);

/// <summary>
/// Asks the gateway for resume tickets (<c>POST /v1/connect?session=…</c>) on behalf of a client. It sends the dev-mode
/// body <c>{"userId":…}</c>: a gateway in production mode wants the user's own credentials, which the proxy does not hold.
/// </summary>
internal sealed class GatewayClient(Uri gateway, TimeSpan timeout) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = timeout };

    /// <exception cref="HttpRequestException">The gateway could not be reached or refused.</exception>
    public async Task<ResumePlacement> ResumeAsync(string userId, string session, CancellationToken cancellationToken)
    {
        var url = new Uri(gateway, $"/v1/connect?session={Uri.EscapeDataString(session)}");
        using var response = await _http.PostAsJsonAsync(url, new Dictionary<string, string> { ["userId"] = userId }, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
        var root = json.RootElement;
        return new ResumePlacement(new Uri(root.GetProperty("url").GetString()!), root.GetProperty("token").GetString()!, root.GetProperty("node").GetString()!);
    }

    public void Dispose() => _http.Dispose();
}
