using System.Buffers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.SourcePool;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Failover;

/// <summary>
/// <c>failover</c> mode for one client: terminate its WebSocket here, dial the node its ticket names, relay whole
/// frames both ways while tracking the session (from the welcome) and the last <c>seq</c>; when the node goes
/// (1012, 1006, 3008, or a <c>reconnect</c> frame), get a resume ticket from the gateway, dial the new node, resume
/// with the last seq, swallow its welcome and drop repeated seqs. The client sees no close. Its frames sent meanwhile
/// wait in a bounded queue (the client is back-pressured when it is full) and go out after the resume.
/// </summary>
internal static class FailoverHandler
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    public static async Task RunAsync(ClientConnection connection, ProxyRuntime runtime, FailoverServices services, CancellationToken stopping)
    {
        var accepted = await AcceptAsync(connection, runtime, services.Nodes, stopping).ConfigureAwait(false);
        if (accepted is null)
        {
            return;
        }
        var (request, first) = accepted.Value;
        await using var session = new FailoverSession(connection, runtime, services, request, first, stopping);
        await session.RunAsync().ConfigureAwait(false);
    }

    /// <summary>Reads the upgrade, dials the first node, answers the client 101. Null when the client was refused or left.</summary>
    private static async Task<(UpgradeRequest Request, NodeLink Node)?> AcceptAsync(ClientConnection connection, ProxyRuntime runtime, HttpMessageInvoker nodes, CancellationToken stopping)
    {
        var options = runtime.Settings.Options;
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        handshake.CancelAfter(options.HandshakeTimeout);
        var buffer = ArrayPool<byte>.Shared.Rent(options.MaxHeadBytes);
        try
        {
            var (headLength, _) = await HttpHead.ReadAsync((memory, token) => connection.Client.ReceiveAsync(memory, SocketFlags.None, token), buffer.AsMemory(0, options.MaxHeadBytes), handshake.Token).ConfigureAwait(false);
            if (headLength == 0)
            {
                return null;
            }
            if (headLength < 0)
            {
                await TunnelHandler.RefuseAsync(connection, runtime, ProxyRefusal.HeadTooLarge(options.MaxHeadBytes)).ConfigureAwait(false);
                return null;
            }
            var request = HttpHead.ParseRequest(buffer.AsSpan(0, headLength), out var refusal);
            refusal ??= HttpHead.CheckUpgrade(request!);
            if (refusal is null && !request!.HeaderHasToken("Sec-WebSocket-Protocol", FailoverFrames.SubProtocol))
            {
                refusal = ProxyRefusal.NotAnUpgrade($"failover mode speaks the {FailoverFrames.SubProtocol} subprotocol; ask for it in Sec-WebSocket-Protocol");
            }
            if (refusal is not null)
            {
                await TunnelHandler.RefuseAsync(connection, runtime, refusal).ConfigureAwait(false);
                return null;
            }
            var query = FailoverFrames.WithNodeQuery(request!.QueryString);
            var dial = await DialAsync(runtime, nodes, new BalancingContext(connection.Remote, request), query, connection.Remote.Address.ToString(), handshake.Token).ConfigureAwait(false);
            if (dial.Refusal is not null)
            {
                await TunnelHandler.RefuseAsync(connection, runtime, dial.Refusal).ConfigureAwait(false);
                return null;
            }
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(request.Header("Sec-WebSocket-Key")!.Trim() + WebSocketGuid)));
            var response = $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {FailoverFrames.SubProtocol}\r\n\r\n";
            try
            {
                await connection.Client.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, handshake.Token).ConfigureAwait(false);
            }
            catch
            {
                dial.Link!.Dispose();
                throw;
            }
            runtime.Metrics.TunnelOpened();
            ProxyLog.TunnelOpened(runtime.Logger, connection.Remote.ToString(), dial.Link!.Backend?.Id ?? dial.Link.Url.Authority);
            return (request, dial.Link);
        }
        catch (OperationCanceledException) when (handshake.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Picks a node by policy and opens a WebSocket to it, trying others on failure (as the tunnel's dial does).</summary>
    internal static async Task<(NodeLink? Link, ProxyRefusal? Refusal)> DialAsync(ProxyRuntime runtime, HttpMessageInvoker nodes, BalancingContext context, string query, string? forwardedFor, CancellationToken cancellationToken)
    {
        var settings = runtime.Settings;
        var candidates = runtime.Pool.Candidates();
        var tried = new List<string>();
        LocalDialException? local = null;
        for (var attempt = 0; attempt < settings.Options.MaxDialAttempts && candidates.Count > 0; attempt++)
        {
            var backend = settings.Policy.Pick(candidates, context);
            if (backend is null)
            {
                break;
            }
            try
            {
                var link = await NodeLink.OpenAsync(nodes, backend, new Uri(backend.Url, TunnelHandler.TargetFor(new UpgradeRequest("GET", "/" + query, "HTTP/1.1", []), backend.Url)), forwardedFor, settings.Options, cancellationToken).ConfigureAwait(false);
                runtime.Health.DialSucceeded(backend);
                return (link, null);
            }
            catch (Exception e) when (LocalDialException.Find(e) is { } localFailure)
            {
                runtime.LocalDialFailed(backend, localFailure);
                local = localFailure;
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or HttpRequestException)
            {
                ProxyLog.DialFailed(runtime.Logger, backend.Id, e.Message);
                runtime.Health.PassiveFailure(backend, e.Message, isDial: true);
                tried.Add(backend.Id);
                candidates.Remove(backend);
            }
        }
        return (null, ProxyRuntime.Refusal(tried, local));
    }
}

/// <summary>One WebSocket to a node, counted on its backend while open.</summary>
internal sealed class NodeLink : IDisposable
{
    private int _disposed;

    private NodeLink(ClientWebSocket socket, Backend? backend, Uri url)
    {
        Socket = socket;
        Backend = backend;
        Url = url;
    }

    public ClientWebSocket Socket { get; }

    /// <summary>The backend it counts on, or null for a node the gateway named that this proxy does not know yet.</summary>
    public Backend? Backend { get; }

    public Uri Url { get; }

    /// <summary>Completed when the relay stops using this link (the node went, or the session ended); the client→node pump then waits for the next.</summary>
    public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Channel<FailoverFrame>? _received;
    // Ends the read into _received at Dispose: its writer may wait for room that no reader will make any more.
    private readonly CancellationTokenSource _readingStopped = new();

    /// <summary>The read into the queue started by <see cref="StartReading"/> (completed at once without one); for tests.</summary>
    internal Task Reading { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Reads the node's messages into a queue from now on, so their reader can change between two messages without
    /// losing one: a standby's frames are read by its mirror until it is promoted, then by the relay to the client.
    /// </summary>
    public void StartReading()
    {
        _received = Channel.CreateBounded<FailoverFrame>(new BoundedChannelOptions(256) { SingleReader = true, SingleWriter = true });
        Reading = ReadIntoQueueAsync(_received.Writer, _readingStopped.Token);
    }

    private async Task ReadIntoQueueAsync(ChannelWriter<FailoverFrame> queue, CancellationToken token)
    {
        try
        {
            while (await FrameReader.ReceiveAsync(Socket, token).ConfigureAwait(false) is { } frame)
            {
                await queue.WriteAsync(frame, token).ConfigureAwait(false);
            }
            queue.TryComplete();
        }
        catch (Exception e)
        {
            queue.TryComplete(e);
        }
    }

    /// <summary>The node's next whole message, or null on its close frame.</summary>
    public async Task<FailoverFrame?> ReceiveAsync(CancellationToken token)
    {
        if (_received is null)
        {
            return await FrameReader.ReceiveAsync(Socket, token).ConfigureAwait(false);
        }
        return await _received.Reader.WaitToReadAsync(token).ConfigureAwait(false) && _received.Reader.TryRead(out var frame) ? frame : null;
    }

    /// <exception cref="WebSocketException">The connect or upgrade failed.</exception>
    /// <exception cref="TimeoutException">No answer within the connect timeout.</exception>
    /// <remarks>
    /// The upgrade goes through <paramref name="nodes"/>, whose connections are bound to the source pool. The link pings
    /// the node as <paramref name="options"/> say, and aborts when no pong comes in time.
    /// </remarks>
    public static async Task<NodeLink> OpenAsync(HttpMessageInvoker nodes, Backend? backend, Uri url, string? forwardedFor, ProxyOptions options, CancellationToken cancellationToken)
    {
        var connectTimeout = options.ConnectTimeout;
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(FailoverFrames.SubProtocol);
        // Without a timeout a node whose machine vanished (no FIN, no reset) is never noticed, and the session hangs on it.
        socket.Options.KeepAliveInterval = options.NodeKeepAliveInterval;
        socket.Options.KeepAliveTimeout = options.NodeKeepAliveTimeout > TimeSpan.Zero ? options.NodeKeepAliveTimeout : Timeout.InfiniteTimeSpan;
        if (forwardedFor is not null)
        {
            socket.Options.SetRequestHeader("X-Forwarded-For", forwardedFor);
        }
        backend?.AddConnection();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connectTimeout);
        try
        {
            await socket.ConnectAsync(url, nodes, timeout.Token).ConfigureAwait(false);
            return new NodeLink(socket, backend, url);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            backend?.RemoveConnection();
            socket.Dispose();
            throw new TimeoutException($"no WebSocket from {url.Authority} within {connectTimeout}");
        }
        catch
        {
            backend?.RemoveConnection();
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        Ended.TrySetResult();
        Backend?.RemoveConnection();
        _readingStopped.Cancel();
        _received?.Writer.TryComplete();
        Socket.Abort();
        Socket.Dispose();
    }
}
