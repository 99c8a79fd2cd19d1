using System.Net;
using System.Net.Sockets;
using Switchboard.Protocol.Transport;
using Switchboard.Proxy.Reactor;
using Switchboard.Reactor;

namespace Switchboard.Proxy.SourcePool;

/// <summary>
/// Opens upstream TCP connections, each bound to the next address of the source pool when there is one: the tunnel's and
/// tcp mode's sockets directly, failover mode's node WebSockets through <see cref="CreateHttpHandler"/>.
/// </summary>
internal static class UpstreamDialer
{
    /// <summary>
    /// An HTTP handler whose connections are dialled here, with the pool and connect timeout <paramref name="settings"/>
    /// gives at each connect (so a reload applies to the next one). For <c>ClientWebSocket.ConnectAsync(uri, invoker, …)</c>.
    /// </summary>
    public static SocketsHttpHandler CreateHttpHandler(Func<(SourceAddressPool? Pool, TimeSpan Timeout)> settings) => new()
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var (pool, timeout) = settings();
            var socket = await ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, pool, timeout, reactor: null, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        },
    };

    /// <summary>
    /// Binds <paramref name="socket"/> to <paramref name="source"/>, its port left to the connect (see
    /// <see cref="SourceBinding.Bind"/>), so each (source, backend) pair has its own ~28k ports.
    /// </summary>
    internal static void BindToSource(Socket socket, IPAddress source)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        SourceBinding.Bind(socket, source);
    }

    /// <summary>Connects to <paramref name="url"/>'s host and port within <paramref name="timeout"/>, through <paramref name="reactor"/> (a socket it will serve).</summary>
    /// <exception cref="SocketException">The backend refused or could not be reached.</exception>
    /// <exception cref="TimeoutException">The connection did not complete in time.</exception>
    public static Task<Socket> ConnectAsync(Uri url, SourceAddressPool? pool, TimeSpan timeout, SocketReactor reactor, CancellationToken cancellationToken) =>
        ConnectAsync(url.DnsSafeHost, url.Port, pool, timeout, reactor, cancellationToken);

    /// <summary>
    /// The first address of <paramref name="host"/> by <paramref name="resolve"/>. A name that does not resolve is the
    /// backend's failure; a resolver that fails for want of the proxy's own resources is not.
    /// </summary>
    /// <exception cref="SocketException">The name does not resolve (or the resolver could not reach its servers).</exception>
    /// <exception cref="LocalDialException">The resolver failed on the proxy's side: out of descriptors or memory.</exception>
    internal static async Task<IPAddress> ResolveAsync(string host, Func<string, CancellationToken, Task<IPAddress[]>> resolve, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await resolve(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (LocalDialException.IsLocalResolve(e.SocketErrorCode))
        {
            throw new LocalDialException(e, $"resolve {host}");
        }
        catch (OutOfMemoryException)
        {
            // What .NET throws for EAI_MEMORY: the resolver could not allocate, on this machine.
            throw new LocalDialException(new SocketException((int)SocketError.NoBufferSpaceAvailable), $"resolve {host} (the resolver ran out of memory)");
        }
        return addresses.FirstOrDefault() ?? throw new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> within <paramref name="timeout"/>: through
    /// <paramref name="reactor"/> for a socket it will serve, else with .NET's own async connect.
    /// </summary>
    /// <exception cref="SocketException">The backend refused or could not be reached.</exception>
    /// <exception cref="TimeoutException">The connection did not complete in time.</exception>
    /// <exception cref="LocalDialException">The proxy itself is short of descriptors, memory, ports or its source address (or its resolver is).</exception>
    public static async Task<Socket> ConnectAsync(string host, int port, SourceAddressPool? pool, TimeSpan timeout, SocketReactor? reactor, CancellationToken cancellationToken)
    {
        var address = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? literal
            : await ResolveAsync(host, Dns.GetHostAddressesAsync, cancellationToken).ConfigureAwait(false);
        Socket socket;
        try
        {
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        }
        catch (SocketException e)
        {
            throw new LocalDialException(e, "open a socket");
        }
        try
        {
            if (pool?.Next(address.AddressFamily) is { } source)
            {
                try
                {
                    BindToSource(socket, source);
                }
                catch (SocketException e)
                {
                    throw new LocalDialException(e, $"bind to source address {source}");
                }
            }
            using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutSource.CancelAfter(timeout);
            try
            {
                if (reactor is null)
                {
                    await socket.ConnectAsync(new IPEndPoint(address, port), timeoutSource.Token).ConfigureAwait(false);
                }
                else
                {
                    await reactor.ConnectAsync(socket, new IPEndPoint(address, port), timeoutSource.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connecting to {host}:{port} took longer than {timeout.TotalSeconds:0.###} s");
            }
            catch (SocketException e) when (LocalDialException.IsLocal(e.SocketErrorCode))
            {
                throw new LocalDialException(e, $"connect to {host}:{port}");
            }
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
