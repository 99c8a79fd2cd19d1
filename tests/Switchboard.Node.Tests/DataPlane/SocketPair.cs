using System.Net;
using System.Net.Sockets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>Two connected loopback sockets: the server side (accepted) and the client side.</summary>
internal sealed class SocketPair : IAsyncDisposable
{
    private SocketPair(Socket server, Socket client) => (Server, Client) = (server, client);

    public Socket Server { get; }

    public Socket Client { get; }

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

    public ValueTask DisposeAsync()
    {
        Server.Dispose();
        Client.Dispose();
        return ValueTask.CompletedTask;
    }
}
