using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Switchboard.Proxy.Failover;

/// <summary>A resume placement: the node's WebSocket URL, the ticket, the node id.</summary>
internal sealed record ResumePlacement(Uri Url, string Token, string Node);

/// <summary>
/// Asks the gateway for resume tickets (<c>POST /v1/connect?session=…</c> with <c>{"userId":…}</c>) on behalf of a client.
/// With a key (<c>Proxy:GatewayKey</c>) it sends it in <c>X-Proxy-Key</c>, which a production gateway accepts when the key
/// is one of its <c>Gateway:ProxyKeys</c>; without, the request is the dev-mode one, which only a dev-mode gateway accepts.
/// </summary>
internal sealed class GatewayClient(Uri gateway, string? key, TimeSpan timeout, ILogger logger) : IDisposable
{
    /// <summary>The header the gateway reads a proxy key from.</summary>
    public const string ProxyKeyHeader = "X-Proxy-Key";

    private readonly HttpClient _http = new() { Timeout = timeout };
    private int _refusalLogged;

    /// <exception cref="GatewayRefusedException">The gateway refused the proxy's credentials or request (401, 403).</exception>
    /// <exception cref="HttpRequestException">The gateway could not be reached or failed otherwise (worth a retry).</exception>
    public Task<ResumePlacement> ResumeAsync(string userId, string session, string? avoidNode, CancellationToken cancellationToken) =>
        AskAsync(userId, $"session={Uri.EscapeDataString(session)}", avoidNode, cancellationToken);

    /// <summary>Asks for a standby ticket: a new session of <paramref name="userId"/> standing by <paramref name="session"/>, placed off <paramref name="avoidNode"/> when another node can take it.</summary>
    /// <exception cref="GatewayRefusedException">The gateway refused the proxy's credentials or request (401, 403).</exception>
    /// <exception cref="HttpRequestException">The gateway could not be reached, or has no node (503).</exception>
    public Task<ResumePlacement> StandbyAsync(string userId, string session, string avoidNode, CancellationToken cancellationToken) =>
        AskAsync(userId, $"standby={Uri.EscapeDataString(session)}", avoidNode, cancellationToken);

    private async Task<ResumePlacement> AskAsync(string userId, string query, string? avoidNode, CancellationToken cancellationToken)
    {
        if (avoidNode is not null)
        {
            query += $"&avoid={Uri.EscapeDataString(avoidNode)}";
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, $"/v1/connect?{query}"))
        {
            Content = JsonContent.Create(new Dictionary<string, string> { ["userId"] = userId }),
        };
        if (key is not null)
        {
            request.Headers.Add(ProxyKeyHeader, key);
        }
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new GatewayRefusedException((int)response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false), key is not null);
        }
        response.EnsureSuccessStatusCode();
        using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken: cancellationToken).ConfigureAwait(false);
        var root = json.RootElement;
        return new ResumePlacement(new Uri(root.GetProperty("url").GetString()!), root.GetProperty("token").GetString()!, root.GetProperty("node").GetString()!);
    }

    /// <summary>Logs a refusal: the first as an error (failover is lost until the configuration is fixed), later ones at debug level.</summary>
    public void ReportRefusal(GatewayRefusedException refusal)
    {
        if (Interlocked.Exchange(ref _refusalLogged, 1) == 0)
        {
            ProxyLog.GatewayRefused(logger, gateway.ToString(), refusal.Status, refusal.Message);
        }
        else
        {
            ProxyLog.GatewayRefusedAgain(logger, refusal.Status);
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            return json.RootElement.GetProperty("error") is var error && error.TryGetProperty("message", out var message)
                ? $"{error.GetProperty("code").GetString()}: {message.GetString()}"
                : "no error message";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return "the answer is not the gateway's JSON error";
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The gateway refused to issue a resume ticket to the proxy: retrying the same request cannot succeed.</summary>
internal sealed class GatewayRefusedException(int status, string error, bool withKey)
    : Exception(withKey
        ? $"the gateway answered {status} ({error}); check that Proxy:GatewayKey is one of the gateway's Gateway:ProxyKeys"
        : $"the gateway answered {status} ({error}); without Proxy:GatewayKey only a dev-mode gateway issues resume tickets to the proxy")
{
    public int Status { get; } = status;
}
