using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Switchboard.Proxy.Listening;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Listening;

public sealed class ClientConnectionTests
{
    [Fact]
    public async Task Close_EndsBothSidesWithAFin_EvenWhileAnotherThreadIsInACallOnTheSockets()
    {
        // The proxy's sockets are the accepted sides; their peers stand for the client and the backend.
        await using var clientSide = await SocketPair.OpenAsync();
        await using var backendSide = await SocketPair.OpenAsync();
        var connection = new ClientConnection(clientSide.Server, (IPEndPoint)clientSide.Server.RemoteEndPoint!, now: 0)
        {
            Upstream = backendSide.Server,
        };
        // What the reactor thread holds while it receives, sends or changes its epoll set on a socket.
        var clientHandle = clientSide.Server.SafeHandle;
        var upstreamHandle = backendSide.Server.SafeHandle;
        var clientHeld = false;
        var upstreamHeld = false;
        clientHandle.DangerousAddRef(ref clientHeld);
        upstreamHandle.DangerousAddRef(ref upstreamHeld);
        var release = Task.Run(() =>
        {
            // Close spins in Dispose until each handle is let go of, unblocking the holder meanwhile; let go once the
            // peer has heard how the connection ends, so that the way Dispose unblocks has had its effect.
            LetGoOnceHeard(clientSide.Client, clientHandle);
            LetGoOnceHeard(backendSide.Client, upstreamHandle);
        });

        connection.Close("proxy stopping");
        await release.WaitAsync(Patience);

        (await ReadAllBytesAsync(clientSide.Client).WaitAsync(Patience)).ShouldBeEmpty();
        (await ReadAllBytesAsync(backendSide.Client).WaitAsync(Patience)).ShouldBeEmpty();
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
}
