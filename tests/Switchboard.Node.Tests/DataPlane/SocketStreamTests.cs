using System.Net.Sockets;
using System.Reflection;
using Switchboard.Node.DataPlane;
using Switchboard.Reactor;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>
/// The data plane's stream, with its waits on the node's reactor and with .NET's own socket receives: writes that the
/// socket takes at once and writes that must wait for the peer, reads that wait for bytes.
/// </summary>
public sealed class SocketStreamTests : IDisposable
{
    private readonly SocketReactor _reactor = new("test reactor", e => throw new InvalidOperationException("a wait failed on the reactor", e));

    public void Dispose() => _reactor.Dispose();

    private SocketStream Over(Socket socket, bool reactor) => new(socket, reactor ? _reactor : null);
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AWriteLargerThanTheSocketTakes_WaitsForThePeer_AndArrivesWhole(bool reactor)
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SmallWrites_AndReads_GoThroughInOrder(bool reactor)
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Disposing_EndsThePeersConnection(bool reactor)
    {
        var pair = await SocketPair.OpenAsync();
        var stream = Over(pair.Server, reactor);
        using var peer = pair.Client;

        await stream.DisposeAsync();

        (await peer.ReceiveAsync(new byte[1].AsMemory(), SocketFlags.None).AsTask().WithTimeout("the peer to see the end")).ShouldBe(0);
        await Should.ThrowAsync<ObjectDisposedException>(() => stream.WriteAsync(new byte[1]).AsTask());
    }

    [Fact]
    public async Task AReadWaitingOnTheReactor_EndsWhenBytesCome()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor: true);
        using var peer = pair.Client;
        var buffer = new byte[16];

        var read = stream.ReadAsync(buffer).AsTask();
        read.IsCompleted.ShouldBeFalse();
        await peer.SendAsync("ping"u8.ToArray(), SocketFlags.None);

        var count = await read.WithTimeout("the waiting read");
        buffer.AsSpan(0, count).ToArray().ShouldBe("ping"u8.ToArray());
    }

    [Fact]
    public async Task ASecondReadWhileOneWaits_IsRefused_AndTheFirstStillGetsTheBytes()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor: true);
        using var peer = pair.Client;
        var buffer = new byte[16];

        var first = stream.ReadAsync(buffer).AsTask();
        Should.Throw<InvalidOperationException>(() => stream.ReadAsync(new byte[16]));
        await peer.SendAsync("one"u8.ToArray(), SocketFlags.None);

        var count = await first.WithTimeout("the first read");
        buffer.AsSpan(0, count).ToArray().ShouldBe("one"u8.ToArray());
    }

    [Fact]
    public async Task AZeroByteRead_WaitsForBytes_AndLeavesThemForTheNextRead()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor: true);
        using var peer = pair.Client;

        var wait = stream.ReadAsync(Memory<byte>.Empty).AsTask();
        wait.IsCompleted.ShouldBeFalse();
        await peer.SendAsync("abc"u8.ToArray(), SocketFlags.None);
        (await wait.WithTimeout("the zero-byte read")).ShouldBe(0);

        var buffer = new byte[16];
        var count = await stream.ReadAsync(buffer).AsTask().WithTimeout("the read after it");
        buffer.AsSpan(0, count).ToArray().ShouldBe("abc"u8.ToArray());
    }

    [Fact]
    public async Task AWaitingRead_IsCancelled_AndTheNextReadStillGetsTheBytes()
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor: true);
        using var peer = pair.Client;
        using var cancel = new CancellationTokenSource();
        var buffer = new byte[16];

        var read = stream.ReadAsync(buffer, cancel.Token).AsTask();
        read.IsCompleted.ShouldBeFalse();
        await cancel.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => read.WithTimeout("the cancelled read"));

        await peer.SendAsync("later"u8.ToArray(), SocketFlags.None);
        var count = await stream.ReadAsync(buffer).AsTask().WithTimeout("the next read");
        buffer.AsSpan(0, count).ToArray().ShouldBe("later"u8.ToArray());
    }

    [Fact]
    public async Task AWaitingRead_SeesTheEnd_WhenThePeerCloses_OrTheStreamIsDisposed()
    {
        var closedByPeer = await SocketPair.OpenAsync();
        await using var first = Over(closedByPeer.Server, reactor: true);
        var read = first.ReadAsync(new byte[16]).AsTask();
        closedByPeer.Client.Dispose();
        (await read.WithTimeout("the read to see the peer's close")).ShouldBe(0);

        var disposed = await SocketPair.OpenAsync();
        using var peer = disposed.Client;
        var second = Over(disposed.Server, reactor: true);
        var pending = second.ReadAsync(new byte[16]).AsTask();
        pending.IsCompleted.ShouldBeFalse();
        await second.DisposeAsync();
        (await pending.WithTimeout("the read to end with the dispose")).ShouldBe(0);
    }

    [Fact]
    public async Task ManyStreamsWaitingOnOneReactor_EachGetsItsOwnBytes()
    {
        var pairs = new List<SocketPair>();
        var streams = new List<SocketStream>();
        try
        {
            for (var i = 0; i < 200; i++)
            {
                var pair = await SocketPair.OpenAsync();
                pairs.Add(pair);
                streams.Add(Over(pair.Server, reactor: true));
            }
            var buffers = streams.Select(_ => new byte[8]).ToList();
            var reads = streams.Select((s, i) => s.ReadAsync(buffers[i]).AsTask()).ToList();
            reads.ShouldAllBe(r => !r.IsCompleted);

            // In reverse order, so that no stream gets its bytes by being first.
            for (var i = pairs.Count - 1; i >= 0; i--)
            {
                await pairs[i].Client.SendAsync(BitConverter.GetBytes(i), SocketFlags.None);
            }

            var counts = await Task.WhenAll(reads).WithTimeout("every waiting read");
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i].ShouldBe(sizeof(int));
                BitConverter.ToInt32(buffers[i]).ShouldBe(i);
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
            foreach (var pair in pairs)
            {
                await pair.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OnTheReactor_TheSocketNeverMakesDotNetsAsyncState(bool reactor)
    {
        var pair = await SocketPair.OpenAsync();
        await using var stream = Over(pair.Server, reactor);
        using var peer = pair.Client;
        var buffer = new byte[16];

        // A read that waits, a write, and a read that finds bytes at once: all an idle connection ever does.
        var waiting = stream.ReadAsync(buffer).AsTask();
        await peer.SendAsync("one"u8.ToArray(), SocketFlags.None);
        await waiting.WithTimeout("the waiting read");
        await stream.WriteAsync("two"u8.ToArray()).AsTask().WithTimeout("the write");
        await peer.SendAsync("three"u8.ToArray(), SocketFlags.None);
        await stream.ReadAsync(buffer).AsTask().WithTimeout("the read");

        // What the reactor saves per connection is this object and what hangs off it (see bench/README.md, idle memory).
        var field = typeof(SafeSocketHandle).GetField("_asyncContext", BindingFlags.NonPublic | BindingFlags.Instance)
            ?? throw new InvalidOperationException("SafeSocketHandle._asyncContext is gone from this runtime: find what holds a socket's async state now");
        (field.GetValue(pair.Server.SafeHandle) is not null).ShouldBe(!reactor);
    }
}
