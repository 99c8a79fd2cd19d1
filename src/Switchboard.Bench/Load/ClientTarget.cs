using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Switchboard.Protocol;
using Switchboard.Security.Tickets;

namespace Switchboard.Bench.Load;

/// <summary>How a bench client finds the WebSocket URL to open.</summary>
public enum TargetKind
{
    /// <summary>Negotiate with a gateway (<c>POST /v1/connect</c>), as real clients do.</summary>
    Gateway,

    /// <summary>Straight at one node, with a ticket the bench signs with the cluster secret.</summary>
    Node,

    /// <summary>The bare Kestrel baseline: no protocol, no welcome.</summary>
    Echo,
}

/// <summary>Where a worker's clients connect; serialisable, so worker processes get it too.</summary>
/// <param name="Kind">How clients find their URL.</param>
/// <param name="Url">The gateway, node or baseline.</param>
/// <param name="ClusterSecret">The secret to sign tickets with, for a node target.</param>
/// <param name="NodeId">The node a self-signed ticket names.</param>
/// <param name="Via">
/// Proxies in front of the nodes: a client dials one of them (in turn) instead of its node, with the node URL's path
/// and query (the ticket), and the proxy routes it to the node the ticket names. Null or empty: straight at the node.
/// </param>
public sealed record TargetSpec(TargetKind Kind, Uri Url, string? ClusterSecret = null, string NodeId = "node-1", IReadOnlyList<Uri>? Via = null);

/// <summary>Turns a user id into an open URL: the gateway's answer, a self-signed ticket, or the baseline's address.</summary>
internal sealed class ClientTarget : IDisposable
{
    private readonly TargetSpec _spec;
    private readonly HttpClient? _http;
    private readonly TicketIssuer? _tickets;
    private long _retries;
    private long _nextVia;

    private const int MaxAttempts = 5;

    public ClientTarget(TargetSpec spec, IPAddress? source)
    {
        _spec = spec;
        if (spec.Kind == TargetKind.Gateway)
        {
            _http = new HttpClient(new SocketsHttpHandler
            {
                MaxConnectionsPerServer = 256,
                ConnectCallback = (context, cancellationToken) => ConnectFromAsync(source, context, cancellationToken),
            })
            { Timeout = TimeSpan.FromSeconds(30) };
        }
        else if (spec.Kind == TargetKind.Node)
        {
            _tickets = new TicketIssuer(spec.ClusterSecret ?? throw new ArgumentException("A node target needs the cluster secret (--secret)."));
        }
    }

    /// <summary>Whether the target speaks the Switchboard protocol (sends a welcome, understands commands).</summary>
    public bool SpeaksProtocol => _spec.Kind != TargetKind.Echo;

    /// <summary>The URL to open for <paramref name="userId"/>; with <paramref name="session"/>, a resume ticket for it.</summary>
    public async Task<Uri> ResolveAsync(string userId, string? session, CancellationToken cancellationToken)
    {
        switch (_spec.Kind)
        {
            case TargetKind.Gateway:
                for (var attempt = 1; ; attempt++)
                {
                    HttpResponseMessage response;
                    try
                    {
                        var path = session is null ? "/v1/connect" : $"/v1/connect?session={Uri.EscapeDataString(session)}";
                        response = await _http!.PostAsync(new Uri(_spec.Url, path), ConnectBody(userId), cancellationToken).ConfigureAwait(false);
                    }
                    catch (HttpRequestException e)
                    {
                        throw new BenchConnectException($"gateway_{e.HttpRequestError.ToString().ToLowerInvariant()}", e.Message);
                    }
                    using (response)
                    {
                        if (response.IsSuccessStatusCode)
                        {
                            var answer = await response.Content.ReadFromJsonAsync<ConnectAnswer>(BenchJson.Options, cancellationToken).ConfigureAwait(false)
                                ?? throw new BenchConnectException("gateway_bad_answer", "The gateway answered null.");
                            return ThroughProxy(new Uri($"{answer.Url}?{WireNames.TokenQueryParameter}={Uri.EscapeDataString(answer.Token)}"));
                        }
                        var code = await ErrorCodeAsync(response, cancellationToken).ConfigureAwait(false);
                        // As a real client does: a 503 says when to ask again (no live node for a moment, all full).
                        if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < MaxAttempts)
                        {
                            Interlocked.Increment(ref _retries);
                            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                            continue;
                        }
                        throw new BenchConnectException($"gateway_{(int)response.StatusCode}{(code is null ? "" : "_" + code)}", $"The gateway answered {(int)response.StatusCode} {code}.");
                    }
                }
            case TargetKind.Node:
                var (token, _) = _tickets!.Issue(userId, _spec.NodeId, session ?? Guid.NewGuid().ToString("N"), TimeSpan.FromMinutes(5));
                return ThroughProxy(new Uri($"{_spec.Url}?{WireNames.TokenQueryParameter}={Uri.EscapeDataString(token)}"));
            default:
                return _spec.Url;
        }
    }

    /// <summary>
    /// The dev-mode body <c>{"userId":…}</c> with its length: JSON content of unknown length would go chunked, which
    /// costs both the bench and the gateway more per request.
    /// </summary>
    private static ByteArrayContent ConnectBody(string userId) =>
        new(JsonSerializer.SerializeToUtf8Bytes(new ConnectRequest(userId), BenchJson.Options)) { Headers = { ContentType = new("application/json") } };

    /// <summary>The node URL as dialled through the next proxy of <see cref="TargetSpec.Via"/>, or unchanged when there is none.</summary>
    private Uri ThroughProxy(Uri nodeUrl)
    {
        if (_spec.Via is not { Count: > 0 } via)
        {
            return nodeUrl;
        }
        var proxy = via[(int)((Interlocked.Increment(ref _nextVia) - 1) % via.Count)];
        return new UriBuilder(nodeUrl) { Scheme = proxy.Scheme, Host = proxy.Host, Port = proxy.Port }.Uri;
    }

    /// <summary>Gateway answers of 503 that were retried after their Retry-After delay.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    public void Dispose() => _http?.Dispose();

    private static async Task<string?> ErrorCodeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            return json.RootElement.GetProperty("error").GetProperty("code").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async ValueTask<Stream> ConnectFromAsync(IPAddress? source, SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = source is null
            ? new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private sealed record ConnectRequest(string UserId);

    private sealed record ConnectAnswer(string Url, string Token, string Node);
}

/// <summary>The JSON settings of everything the bench reads and writes.</summary>
internal static class BenchJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
