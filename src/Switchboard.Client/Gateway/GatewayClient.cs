using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Client.Gateway;

/// <summary>A placement the gateway handed out: the node to dial and its ticket.</summary>
internal sealed record ConnectTicket(Uri NodeUrl, string Token, string Node, DateTimeOffset? ExpiresAt)
{
    /// <summary>The address to dial: the node's URL with the ticket in the <c>token</c> query parameter.</summary>
    public Uri DialUri => BuildDialUri(NodeUrl, Token);

    public static Uri BuildDialUri(Uri nodeUrl, string token)
    {
        var builder = new UriBuilder(nodeUrl);
        // Nodes are WebSocket servers; accept an http(s) address from the gateway as the same endpoint.
        builder.Scheme = builder.Scheme switch
        {
            "http" => "ws",
            "https" => "wss",
            var s => s,
        };
        var parameter = WireNames.TokenQueryParameter + "=" + Uri.EscapeDataString(token);
        var query = builder.Query.TrimStart('?');
        builder.Query = query.Length == 0 ? parameter : query + "&" + parameter;
        return builder.Uri;
    }
}

/// <summary>The outcome of one gateway request: a ticket, or an error that is permanent or worth retrying.</summary>
internal readonly record struct GatewayAnswer(ConnectTicket? Ticket, SwitchboardException? Error, bool Permanent, TimeSpan? RetryAfter)
{
    public static GatewayAnswer Success(ConnectTicket ticket) => new(ticket, null, false, null);

    public static GatewayAnswer Transient(SwitchboardException error, TimeSpan? retryAfter = null) => new(null, error, false, retryAfter);

    public static GatewayAnswer Refused(SwitchboardException error) => new(null, error, true, null);
}

/// <summary>Asks the gateway for a node: <c>POST /v1/connect</c>, with a bearer token or a dev-mode user id.</summary>
internal sealed class GatewayClient : IDisposable
{
    /// <summary>The gateway's connect path, relative to its base address.</summary>
    public const string ConnectPath = "v1/connect";

    private readonly HttpClient _http;
    private readonly Uri _connectUri;
    private readonly Func<CancellationToken, ValueTask<string>>? _tokenProvider;
    private readonly string? _devUserId;
    private readonly TimeProvider _time;

    public GatewayClient(SwitchboardClientOptions options)
    {
        _http = options.HttpHandler is { } handler
            ? new HttpClient(handler, disposeHandler: false)
            : new HttpClient(new SocketsHttpHandler(), disposeHandler: true);
        // Each attempt has its own deadline (ConnectTimeout); HttpClient's own must not cut it shorter.
        _http.Timeout = Timeout.InfiniteTimeSpan;
        _connectUri = ConnectUri(options.GatewayUrl!);
        _tokenProvider = options.TokenProvider;
        _devUserId = options.DevUserId;
        _time = options.TimeProvider;
    }

    /// <summary><c>{gateway}/v1/connect</c>, keeping any path prefix of the gateway's address.</summary>
    public static Uri ConnectUri(Uri gateway)
    {
        var text = gateway.GetLeftPart(UriPartial.Path);
        return new Uri(new Uri(text.EndsWith('/') ? text : text + "/"), ConnectPath);
    }

    /// <summary>Requests a placement. Never throws for network or HTTP failures; only for cancellation of <paramref name="cancellationToken"/>.</summary>
    /// <param name="resumeSession">When set, asks for a resume ticket for this session (<c>?session=</c>).</param>
    /// <param name="avoidNode">When set, asks for another node than this one if another can take the connection (<c>?avoid=</c>).</param>
    /// <param name="cancellationToken">Stops the request.</param>
    public async Task<GatewayAnswer> RequestTicketAsync(string? resumeSession, string? avoidNode, CancellationToken cancellationToken)
    {
        var uri = RequestUri(resumeSession, avoidNode);
        using var request = new HttpRequestMessage(HttpMethod.Post, uri);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_tokenProvider is not null)
        {
            string token;
            try
            {
                token = await _tokenProvider(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The application's token source may be briefly unreachable; retried like a gateway outage.
                return GatewayAnswer.Transient(new SwitchboardException(SwitchboardErrorReason.Unavailable, $"The token provider failed: {e.Message}", e));
            }
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            // An empty JSON object rather than no body, so gateways that always read JSON bodies accept it.
            request.Content = JsonContent.Create(new DevConnectRequest(null), ClientJsonContext.Default.DevConnectRequest);
        }
        else
        {
            request.Content = JsonContent.Create(new DevConnectRequest(_devUserId), ClientJsonContext.Default.DevConnectRequest);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            return GatewayAnswer.Transient(SwitchboardErrors.GatewayUnreachable(e));
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return await ReadTicketAsync(response, cancellationToken).ConfigureAwait(false);
            }
            var (code, message) = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (IsTransient(response.StatusCode))
            {
                return GatewayAnswer.Transient(SwitchboardErrors.GatewayUnavailable(status, code, message), RetryAfter(response));
            }
            var reason = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                ? SwitchboardErrorReason.Unauthorized
                : SwitchboardErrorReason.Rejected;
            return GatewayAnswer.Refused(SwitchboardErrors.GatewayRefused(reason, status, code, message));
        }
    }

    private Uri RequestUri(string? resumeSession, string? avoidNode)
    {
        var query = new List<string>(2);
        if (resumeSession is not null)
        {
            query.Add(WireNames.SessionQueryParameter + "=" + Uri.EscapeDataString(resumeSession));
        }
        if (avoidNode is not null)
        {
            query.Add(WireNames.AvoidQueryParameter + "=" + Uri.EscapeDataString(avoidNode));
        }
        return query.Count == 0 ? _connectUri : new Uri(_connectUri + "?" + string.Join('&', query));
    }

    /// <summary>5xx, 408 and 429 may pass; every other 4xx will not change by asking again.</summary>
    internal static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;

    private async Task<GatewayAnswer> ReadTicketAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ConnectResponse? body;
        try
        {
            body = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ConnectResponse, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return GatewayAnswer.Transient(SwitchboardErrors.ProtocolViolation($"The gateway's connect answer is not valid JSON: {e.Message}", e));
        }
        if (body is not { Url: { Length: > 0 } url, Token: { Length: > 0 } token }
            || !Uri.TryCreate(url, UriKind.Absolute, out var nodeUrl)
            || nodeUrl.Scheme is not ("ws" or "wss" or "http" or "https"))
        {
            return GatewayAnswer.Transient(SwitchboardErrors.ProtocolViolation("The gateway's connect answer lacks an absolute ws(s) 'url' or a 'token'."));
        }
        return GatewayAnswer.Success(new ConnectTicket(nodeUrl, token, body.Node ?? string.Empty, body.ExpiresAt));
    }

    private static async Task<(string? Code, string? Message)> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.GatewayErrorResponse, cancellationToken).ConfigureAwait(false);
            return (error?.Error?.Code, error?.Error?.Message);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Not our JSON (a proxy's HTML page, an empty body): the status alone decides.
            return (null, response.ReasonPhrase);
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }
        if (header?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    public void Dispose() => _http.Dispose();
}
