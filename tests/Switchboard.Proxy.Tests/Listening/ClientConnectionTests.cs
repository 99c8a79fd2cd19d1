using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Switchboard.Proxy.Listening;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Listening;

public sealed class ClientConnectionTests
{
    [Fact]
    public async Task Close_EndsBothSidesWithAFin_EvenWhileAnotherThreadIsInACallOnTheSockets()
    {
        using var clientSide = await ConnectedPairAsync();
        using var backendSide = await ConnectedPairAsync();
        var connection = new ClientConnection(clientSide.Ours, (IPEndPoint)clientSide.Ours.RemoteEndPoint!, now: 0)
        {
            Upstream = backendSide.Ours,
        };
        // What the reactor thread holds while it receives, sends or changes its epoll set on a socket.
        var clientHandle = clientSide.Ours.SafeHandle;
        var upstreamHandle = backendSide.Ours.SafeHandle;
        var clientHeld = false;
        var upstreamHeld = false;
        clientHandle.DangerousAddRef(ref clientHeld);
        upstreamHandle.DangerousAddRef(ref upstreamHeld);
        var release = Task.Run(() =>
        {
            // Close spins in Dispose until each handle is let go of, unblocking the holder meanwhile; let go once the
            // peer has heard how the connection ends, so that the way Dispose unblocks has had its effect.
            LetGoOnceHeard(clientSide.Peer, clientHandle);
            LetGoOnceHeard(backendSide.Peer, upstreamHandle);
        });

        connection.Close("proxy stopping");
        await release.WaitAsync(Patience);

        (await ReadAllBytesAsync(clientSide.Peer).WaitAsync(Patience)).ShouldBeEmpty();
        (await ReadAllBytesAsync(backendSide.Peer).WaitAsync(Patience)).ShouldBeEmpty();
        connection.ClosedBecause.ShouldBe("proxy stopping");
    }

    private static void LetGoOnceHeard(Socket peer, SafeHandle held)
    {
        try
        {
            peer.Poll(Patience, SelectMode.SelectRead).ShouldBeTrue();
        }
        finally
        {
            held.DangerousRelease();
        }
    }

    private static async Task<SocketPair> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepted = listener.AcceptAsync();
        await peer.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Patience);
        return new SocketPair(await accepted.WaitAsync(Patience), peer);
    }

    private sealed record SocketPair(Socket Ours, Socket Peer) : IDisposable
    {
        public void Dispose()
        {
            Ours.Dispose();
            Peer.Dispose();
        }
    }
}
