using System.Net;
using System.Net.Sockets;

namespace Switchboard.Tests.Common;

/// <summary>Two connected loopback sockets: the server side (accepted) and the client side.</summary>
public sealed class SocketPair : IAsyncDisposable
{
    private SocketPair(Socket server, Socket client) => (Server, Client) = (server, client);

    /// <summary>The accepted side.</summary>
    public Socket Server { get; }

    /// <summary>The side that dialled.</summary>
    public Socket Client { get; }

    /// <summary>Connects two sockets over IPv4 loopback.</summary>
    public static async Task<SocketPair> OpenAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepting = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!).WithTimeout("connecting");
        return new SocketPair(await accepting.WithTimeout("accepting"), client);
    }

    /// <summary>Disposes both sockets.</summary>
    public ValueTask DisposeAsync()
    {
        Server.Dispose();
        Client.Dispose();
        return ValueTask.CompletedTask;
    }
}
