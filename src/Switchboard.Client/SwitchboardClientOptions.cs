namespace Switchboard.Client;

/// <summary>Settings of a <see cref="SwitchboardClient"/>. Validated when the client is created.</summary>
public sealed class SwitchboardClientOptions
{
    /// <summary>The gateway's base address, for example <c>http://127.0.0.1:7000</c>. Required.</summary>
    public Uri? GatewayUrl { get; set; }

    /// <summary>
    /// Returns the user's JWT, sent as <c>Authorization: Bearer</c> to the gateway. Called on every connect and
    /// reconnect, so the application can refresh tokens. Exactly one of this and <see cref="DevUserId"/> is set.
    /// </summary>
    public Func<CancellationToken, ValueTask<string>>? TokenProvider { get; set; }

    /// <summary>
    /// The user id to connect as when the cluster runs in dev mode (unsigned, for development only).
    /// Exactly one of this and <see cref="TokenProvider"/> is set.
    /// </summary>
    public string? DevUserId { get; set; }

    /// <summary>The base of the full-jitter exponential backoff between connect attempts.</summary>
    public TimeSpan ReconnectBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The cap of the backoff between connect attempts.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a command (send, join, leave, ping) waits for its reply, including any wait for a reconnect.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Send every message with an idempotency key (<c>key</c>, unique to this client), and when the connection is lost
    /// before the node answered a send, send it again, with the same key, on the next connection (within
    /// <see cref="CommandTimeout"/>, at most three times, and not after a close that refuses the send itself, such as
    /// 1009 or 1008; needs <see cref="AutoReconnect"/>). Each recipient's node passes on a send with one key once
    /// (within its <c>Node:RepeatWindow</c>), and a .NET recipient whose session was lost or moved between the copies
    /// drops the second by its id (<see cref="DropRepeats"/>), so between .NET clients the message is neither lost nor
    /// delivered twice; other recipients may then get both. Sends lost with a connection go out again before any
    /// command made after them, in the order they were made. When false a send is sent at most once and fails with
    /// <see cref="SwitchboardErrorReason.ConnectionLost"/> if the connection drops before its reply.
    /// </summary>
    public bool RetrySends { get; set; } = true;

    /// <summary>
    /// Ask the node for each message's cluster-wide id (<c>ids=1</c>) and drop a message whose id was among the last
    /// 4,096 this client received: a send carried out twice (see <see cref="RetrySends"/>) whose second copy reached
    /// this client after its session was lost with its node, where the nodes' own repeat window cannot see the first.
    /// Costs ~25 bytes per message on the wire (saved when false, except behind a failover proxy, which always asks for
    /// ids). False: every message as the nodes pass it on.
    /// </summary>
    public bool DropRepeats { get; set; } = true;

    /// <summary>How long one connect attempt (gateway request, WebSocket handshake, <c>welcome</c>) may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many attempts <see cref="SwitchboardClient.ConnectAsync"/> makes before it gives up. Automatic reconnects retry until disposed.</summary>
    public int MaxConnectAttempts { get; set; } = 10;

    /// <summary>
    /// On a reconnect, resume the session (<c>resume</c> with the last seq received), so messages sent meanwhile arrive,
    /// once and in order; what could not be replayed is reported through <see cref="SwitchboardClient.MessagesLost"/>.
    /// When false every connection is a new session.
    /// </summary>
    public bool ResumeSessions { get; set; } = true;

    /// <summary>Reconnect through the gateway when the connection drops. When false, a lost connection closes the client.</summary>
    public bool AutoReconnect { get; set; } = true;

    /// <summary>
    /// The largest frame accepted from the node, assembled from fragments; a larger one closes the connection with 1009.
    /// The default fits the largest message the gateway's publish API accepts (1 MiB of data) plus its envelope.
    /// </summary>
    public int MaxFrameBytes { get; set; } = 1024 * 1024 + 4 * 1024;

    /// <summary>
    /// How many received messages wait for the application before the client stops reading the socket. A reader that
    /// falls this far behind pushes back on the node, which eventually closes the connection with 3008 (slow consumer).
    /// While a command awaits its reply — including the re-joins of groups after a reconnect — the client keeps reading
    /// past this limit, since the reply is behind the messages in the socket; nothing is dropped or reordered.
    /// </summary>
    public int MessageBufferCapacity { get; set; } = 10_000;

    /// <summary>
    /// Dial this address — a <c>switchboard proxy</c> in front of the nodes — instead of the node the gateway names, with
    /// the gateway's ticket: the proxy's <c>ticket</c> policy takes the connection to that node, and in its failover
    /// mode keeps the session going on another node when that one drains or goes, without the client seeing a close.
    /// For clients that may dial only one address. Its path is kept; the ticket is added to its query.
    /// </summary>
    public Uri? ProxyUrl { get; set; }

    /// <summary>The handler for gateway requests (for tests, proxies or TLS settings). The client does not dispose it.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>The source of backoff jitter; <see cref="System.Random.Shared"/> when null.</summary>
    public Random? Random { get; set; }

    /// <summary>The clock for backoff delays and timeouts.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (GatewayUrl is null)
        {
            throw new ArgumentException($"{nameof(GatewayUrl)} is required.", nameof(GatewayUrl));
        }
        if (!GatewayUrl.IsAbsoluteUri || (GatewayUrl.Scheme != Uri.UriSchemeHttp && GatewayUrl.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"{nameof(GatewayUrl)} must be an absolute http or https address, not '{GatewayUrl}'.", nameof(GatewayUrl));
        }
        if (ProxyUrl is not null && (!ProxyUrl.IsAbsoluteUri || ProxyUrl.Scheme is not ("ws" or "wss" or "http" or "https") || ProxyUrl.Query.Length > 0))
        {
            throw new ArgumentException($"{nameof(ProxyUrl)} must be an absolute ws, wss, http or https address without a query, not '{ProxyUrl}'.", nameof(ProxyUrl));
        }
        if ((TokenProvider is null) == (DevUserId is null))
        {
            throw new ArgumentException($"Set exactly one of {nameof(TokenProvider)} (signed user tokens) and {nameof(DevUserId)} (dev mode).", nameof(TokenProvider));
        }
        if (DevUserId is not null && string.IsNullOrWhiteSpace(DevUserId))
        {
            throw new ArgumentException($"{nameof(DevUserId)} must not be empty.", nameof(DevUserId));
        }
        RequirePositive(ReconnectBaseDelay, nameof(ReconnectBaseDelay));
        RequirePositive(ReconnectMaxDelay, nameof(ReconnectMaxDelay));
        RequirePositive(CommandTimeout, nameof(CommandTimeout));
        RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        if (ReconnectMaxDelay < ReconnectBaseDelay)
        {
            throw new ArgumentException($"{nameof(ReconnectMaxDelay)} ({ReconnectMaxDelay}) must not be less than {nameof(ReconnectBaseDelay)} ({ReconnectBaseDelay}).", nameof(ReconnectMaxDelay));
        }
        if (MaxConnectAttempts < 1)
        {
            throw new ArgumentException($"{nameof(MaxConnectAttempts)} must be at least 1.", nameof(MaxConnectAttempts));
        }
        if (MaxFrameBytes < 1024)
        {
            throw new ArgumentException($"{nameof(MaxFrameBytes)} must be at least 1024.", nameof(MaxFrameBytes));
        }
        if (MessageBufferCapacity < 1)
        {
            throw new ArgumentException($"{nameof(MessageBufferCapacity)} must be at least 1.", nameof(MessageBufferCapacity));
        }
        if (TimeProvider is null)
        {
            throw new ArgumentException($"{nameof(TimeProvider)} is required.", nameof(TimeProvider));
        }
    }

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} must be positive, not {value}.", name);
        }
    }
}
