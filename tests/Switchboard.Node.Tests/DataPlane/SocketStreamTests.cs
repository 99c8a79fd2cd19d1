using System.Net.Sockets;
using Switchboard.Node.DataPlane;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>The data plane's stream: writes that the socket takes at once and writes that must wait for the peer.</summary>
public sealed class SocketStreamTests
{
    [Fact]
    public async Task AWriteLargerThanTheSocketTakes_WaitsForThePeer_AndArrivesWhole()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = new SocketStream(pair.Server);
        using var peer = pair.Client;
        // Far more than the kernel's send and receive buffers on loopback together hold.
        var payload = new byte[32 * 1024 * 1024];
        new Random(7).NextBytes(payload);

        // The peer reads nothing yet: the kernel's buffers fill and the write has to wait.
        var write = stream.WriteAsync(payload).AsTask();
        write.IsCompleted.ShouldBeFalse();
        var received = new byte[payload.Length];
        var read = 0;
        while (read < received.Length)
        {
            read += await peer.ReceiveAsync(received.AsMemory(read), SocketFlags.None).AsTask().WithTimeout("the peer to read");
        }
        await write.WithTimeout("the write to finish once the peer read");

        received.ShouldBe(payload);
    }

    [Fact]
    public async Task SmallWrites_AndReads_GoThroughInOrder()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = new SocketStream(pair.Server);
        using var peer = pair.Client;

        for (var i = 0; i < 100; i++)
        {
            await stream.WriteAsync(new[] { (byte)i }).AsTask().WithTimeout("a small write");
        }
        var received = new byte[100];
        var read = 0;
        while (read < received.Length)
        {
            read += await peer.ReceiveAsync(received.AsMemory(read), SocketFlags.None).AsTask().WithTimeout("the peer to read");
        }
        received.ShouldBe(Enumerable.Range(0, 100).Select(i => (byte)i));

        await peer.SendAsync("hello"u8.ToArray(), SocketFlags.None);
        var buffer = new byte[16];
        var count = await stream.ReadAsync(buffer).AsTask().WithTimeout("the read");
        buffer.AsSpan(0, count).ToArray().ShouldBe("hello"u8.ToArray());
    }

    [Fact]
    public async Task Disposing_EndsThePeersConnection()
    {
        var pair = await SocketPair.OpenAsync();
        var stream = new SocketStream(pair.Server);
        using var peer = pair.Client;

        await stream.DisposeAsync();

        (await peer.ReceiveAsync(new byte[1].AsMemory(), SocketFlags.None).AsTask().WithTimeout("the peer to see the end")).ShouldBe(0);
        await Should.ThrowAsync<ObjectDisposedException>(() => stream.WriteAsync(new byte[1]).AsTask());
    }
}
