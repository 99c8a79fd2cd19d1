using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Reactor;
using Switchboard.Reactor;

namespace Switchboard.Proxy.Tunnel;

/// <summary>
/// <c>tunnel</c> mode for one client: read its upgrade request, pick and dial a backend, relay the request (with
/// <c>X-Forwarded-For</c>/<c>-Proto</c>) and the backend's answer (with the stickiness cookie), then, after a 101, bytes
/// both ways; after any other answer the connection ends.
/// </summary>
internal static class TunnelHandler
{
    /// <summary>The largest backend response head accepted.</summary>
    private const int MaxResponseHeadBytes = 16 * 1024;

    public static async Task RunAsync(ClientConnection connection, ProxyRuntime runtime, CancellationToken stopping)
    {
        try
        {
            // The handshake's locals (buffers, the parsed request, its timer) die with it; an idle tunnel keeps only the relay.
            if (await HandshakeAsync(connection, runtime, stopping).ConfigureAwait(false) is not { } handshake)
            {
                return;
            }
            var backend = handshake.Backend;
            try
            {
                var backendFailed = await ReactorRelay.RunAsync(runtime, connection, connection.Upstream!, handshake.ReadFromClient, handshake.ReadFromUpstream).ConfigureAwait(false);
                if (backendFailed && connection.ClosedBecause is null)
                {
                    runtime.Health.PassiveFailure(backend, "the backend reset an established tunnel", isDial: false);
                }
                ProxyLog.TunnelClosed(runtime.Logger, connection.Remote.ToString(), backend.Id, connection.ClosedBecause ?? (backendFailed ? "backend failed" : "closed"));
            }
            finally
            {
                backend.RemoveConnection();
            }
        }
        finally
        {
            connection.Close();
        }
    }

    /// <summary>A finished handshake: the backend, and the bytes it read from each side (all it wrote has been written).</summary>
    private readonly record struct Handshake(Backend Backend, long ReadFromClient, long ReadFromUpstream);

    /// <summary>
    /// Reads the client's request, dials a backend, relays the request and the backend's answer. Returns the backend
    /// (counted, with <see cref="ClientConnection.Upstream"/> set) when the backend switched protocols and bytes are to
    /// be relayed, or null when the client was answered (or left) and the connection is done.
    /// </summary>
    private static async Task<Handshake?> HandshakeAsync(ClientConnection connection, ProxyRuntime runtime, CancellationToken stopping)
    {
        var settings = runtime.Settings;
        var options = settings.Options;
        byte[]? requestBuffer = null;
        byte[]? responseBuffer = null;
        Backend? backend = null;
        var relaying = false;
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        handshake.CancelAfter(options.HandshakeTimeout);
        try
        {
            // Wait for the first bytes before taking a buffer, so that a client that connects and waits holds none.
            var reactor = connection.Reactor!;
            await reactor.WaitAsync(connection.Client, writable: false, handshake.Token).ConfigureAwait(false);
            requestBuffer = ArrayPool<byte>.Shared.Rent(options.MaxHeadBytes);
            var (headLength, received) = await HttpHead.ReadAsync((buffer, token) => reactor.ReceiveAsync(connection.Client, buffer, token), requestBuffer.AsMemory(0, options.MaxHeadBytes), handshake.Token).ConfigureAwait(false);
            if (headLength == 0)
            {
                return null; // closed before sending a request: nothing to answer
            }
            if (headLength < 0)
            {
                await RefuseAsync(connection, runtime, ProxyRefusal.HeadTooLarge(options.MaxHeadBytes)).ConfigureAwait(false);
                return null;
            }
            var request = HttpHead.ParseRequest(requestBuffer.AsSpan(0, headLength), out var refusal);
            refusal ??= HttpHead.CheckUpgrade(request!);
            if (refusal is not null)
            {
                await RefuseAsync(connection, runtime, refusal).ConfigureAwait(false);
                return null;
            }
            var dial = await runtime.DialAsync(connection, new BalancingContext(connection.Remote, request), handshake.Token).ConfigureAwait(false);
            if (dial.Refusal is not null)
            {
                await RefuseAsync(connection, runtime, dial.Refusal).ConfigureAwait(false);
                return null;
            }
            backend = dial.Backend!;
            var upstream = dial.Socket!;
            connection.Backend = backend;
            connection.Upstream = upstream;

            var target = TargetFor(request!, backend.Url);
            var head = request!.ToUpstreamHead(target, options.AddForwardedHeaders ? connection.Remote.Address.ToString() : null, "http");
            await reactor.SendAsync(upstream, head, handshake.Token).ConfigureAwait(false);
            // Bytes the client sent right after its head wait for the backend's answer: they belong to a tunnel only after a 101.
            var early = received > headLength ? requestBuffer.AsSpan(headLength, received - headLength).ToArray() : null;
            ArrayPool<byte>.Shared.Return(requestBuffer);
            requestBuffer = null;

            responseBuffer = ArrayPool<byte>.Shared.Rent(MaxResponseHeadBytes);
            var (responseLength, responseReceived) = await HttpHead.ReadAsync((buffer, token) => reactor.ReceiveAsync(upstream, buffer, token), responseBuffer.AsMemory(0, MaxResponseHeadBytes), handshake.Token).ConfigureAwait(false);
            var status = responseLength > 0 ? HttpHead.ParseStatus(responseBuffer.AsSpan(0, responseLength)) : -1;
            if (status < 0)
            {
                runtime.Health.PassiveFailure(backend, "no valid HTTP answer to the upgrade", isDial: false);
                await RefuseAsync(connection, runtime, ProxyRefusal.BadBackendResponse).ConfigureAwait(false);
                return null;
            }
            if (status != 101)
            {
                // Only a 101 makes the rest of the connection a tunnel. Anything the client sends after a refused upgrade
                // would reach the backend unchecked (no X-Forwarded-For of ours, no routing), so the answer goes to the
                // client and both connections end.
                ProxyLog.UpgradeRefusedByBackend(runtime.Logger, connection.Remote.ToString(), backend.Id, status);
                await RelayRefusalAsync(connection, reactor, responseBuffer, responseLength, responseReceived, status, handshake.Token, stopping).ConfigureAwait(false);
                return null;
            }
            var responseHead = responseBuffer.AsMemory(0, responseLength);
            if (settings.Policy.AffinityCookie is { } cookie && request.Cookie(cookie) != backend.Id)
            {
                responseHead = WithSetCookie(responseBuffer.AsSpan(0, responseLength), cookie, backend.Id);
            }
            await reactor.SendAsync(connection.Client, responseHead, handshake.Token).ConfigureAwait(false);
            if (responseReceived > responseLength)
            {
                await reactor.SendAsync(connection.Client, responseBuffer.AsMemory(responseLength, responseReceived - responseLength), handshake.Token).ConfigureAwait(false);
            }
            if (early is not null)
            {
                await reactor.SendAsync(upstream, early, handshake.Token).ConfigureAwait(false);
            }
            runtime.Metrics.TunnelOpened();
            ProxyLog.TunnelOpened(runtime.Logger, connection.Remote.ToString(), backend.Id);
            connection.Touch(runtime.Time.GetTimestamp());
            relaying = true;
            return new Handshake(backend, received, responseReceived);
        }
        catch (OperationCanceledException) when (handshake.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            if (backend is not null)
            {
                await RefuseAsync(connection, runtime, ProxyRefusal.BackendTimeout).ConfigureAwait(false);
            }
            // A client that does not finish its request in time is just closed.
            return null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Either peer went away mid-handshake, or the proxy is stopping: nothing more to tell anyone.
            return null;
        }
        finally
        {
            if (requestBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(requestBuffer);
            }
            if (responseBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(responseBuffer);
            }
            if (!relaying)
            {
                backend?.RemoveConnection();
            }
        }
    }

    /// <summary>The request target upstream: the backend URL's path when it has one (the client's query kept), else the client's target unchanged.</summary>
    internal static string TargetFor(UpgradeRequest request, Uri backend) =>
        backend.AbsolutePath is "/" or "" ? request.Target : backend.AbsolutePath + request.QueryString;

    /// <summary>Answers with an HTTP error and closes; the client gets the whole answer before the close.</summary>
    internal static async Task RefuseAsync(ClientConnection connection, ProxyRuntime runtime, ProxyRefusal refusal)
    {
        runtime.Metrics.Refused(refusal.Status);
        ProxyLog.ClientRefused(runtime.Logger, connection.Remote.ToString(), refusal.Status, refusal.Message);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await connection.Client.SendAsync(refusal.ToResponse(), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            await EndAnsweredClientAsync(connection.Client, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client left first.
        }
    }

    /// <summary>
    /// Relays a backend's answer other than 101 to the client (the head read so far in <paramref name="response"/>,
    /// then its body up to where it ends), and ends the client's side. The caller closes both sockets.
    /// </summary>
    private static async Task RelayRefusalAsync(ClientConnection connection, SocketReactor reactor, byte[] response, int headLength, int received, int status, CancellationToken handshake, CancellationToken stopping)
    {
        var upstream = connection.Upstream!;
        var body = ResponseBody.Of(response.AsSpan(0, headLength), status);
        try
        {
            var length = headLength + body.Consume(response.AsSpan(headLength, received - headLength));
            await reactor.SendAsync(connection.Client, response.AsMemory(0, length), handshake).ConfigureAwait(false);
            while (!body.IsComplete)
            {
                var read = await reactor.ReceiveAsync(upstream, response, handshake).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                await reactor.SendAsync(connection.Client, response.AsMemory(0, body.Consume(response.AsSpan(0, read))), handshake).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            // A body that outlasts the handshake timeout is cut there: the client gets what came.
        }
        catch (SocketException)
        {
            // The backend went away mid-answer; the client still gets its end of the connection below.
        }
        if (stopping.IsCancellationRequested)
        {
            return;
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await EndAnsweredClientAsync(connection.Client, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client left first.
        }
    }

    /// <summary>Ends the client's side after its answer has been sent, leaving the socket for the caller to close.</summary>
    private static async Task EndAnsweredClientAsync(Socket client, CancellationToken cancellationToken)
    {
        client.Shutdown(SocketShutdown.Send);
        // Closing with unread request bytes would send a reset that can destroy the answer in flight: read them off first.
        var sink = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            for (var total = 0; total < 256 * 1024;)
            {
                var read = await client.ReceiveAsync(sink, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                total += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sink);
        }
    }

    private static byte[] WithSetCookie(ReadOnlySpan<byte> head, string cookie, string backendId)
    {
        // The head ends with CRLF CRLF; the new field goes before the final CRLF.
        var field = Encoding.ASCII.GetBytes($"Set-Cookie: {cookie}={backendId}; Path=/; HttpOnly\r\n");
        var result = new byte[head.Length + field.Length];
        head[..^2].CopyTo(result);
        field.CopyTo(result.AsSpan(head.Length - 2));
        "\r\n"u8.CopyTo(result.AsSpan(result.Length - 2));
        return result;
    }
}
