using System.Net;
using System.Net.Sockets;

namespace Switchboard.Proxy.SourcePool;

/// <summary>Opens upstream TCP connections, each bound to the next address of the source pool when there is one.</summary>
internal static class UpstreamDialer
{
    /// <summary>Connects to <paramref name="url"/>'s host and port within <paramref name="timeout"/>.</summary>
    /// <exception cref="SocketException">The backend refused or could not be reached.</exception>
    /// <exception cref="TimeoutException">The connection did not complete in time.</exception>
    public static async Task<Socket> ConnectAsync(Uri url, SourceAddressPool? pool, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var address = IPAddress.TryParse(url.Host.Trim('[', ']'), out var literal)
            ? literal
            : (await Dns.GetHostAddressesAsync(url.DnsSafeHost, cancellationToken).ConfigureAwait(false)).FirstOrDefault()
              ?? throw new SocketException((int)SocketError.HostNotFound);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (pool?.Next(address.AddressFamily) is { } source)
            {
                // Each (source, destination) pair has its own ~28k ephemeral ports; the kernel picks the port.
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(new IPEndPoint(source, 0));
            }
            using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutSource.CancelAfter(timeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, url.Port), timeoutSource.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connecting to {url.Authority} took longer than {timeout.TotalSeconds:0.###} s");
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
