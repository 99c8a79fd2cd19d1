using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Switchboard.Node.DataPlane;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>Gathered writes: several WebSocket frames leave in one socket write, in order, and nothing is held back.</summary>
public sealed class CorkingStreamTests
{
    [Fact]
    public async Task FramesSentWhileCorked_LeaveAsOneWrite_AndArriveInOrder()
    {
        await using var pair = await SocketPair.OpenAsync();
        var counting = new CountingStream(new NetworkStream(pair.Server, ownsSocket: true));
        var cork = new CorkingStream(counting);
        using var server = WebSocket.CreateFromStream(cork, new WebSocketCreationOptions { IsServer = true });
        using var client = WebSocket.CreateFromStream(new NetworkStream(pair.Client, ownsSocket: true), new WebSocketCreationOptions { IsServer = false });

        cork.Cork();
        foreach (var text in new[] { "one", "two", "three" })
        {
            await server.SendAsync(Encoding.UTF8.GetBytes(text).AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WithTimeout("a corked send");
        }
        counting.Writes.ShouldBe(0, "nothing reaches the socket while corked");
        await cork.UncorkAsync().AsTask().WithTimeout("uncorking");

        counting.Writes.ShouldBe(1);
        (await ReceiveTextAsync(client)).ShouldBe("one");
        (await ReceiveTextAsync(client)).ShouldBe("two");
        (await ReceiveTextAsync(client)).ShouldBe("three");
    }

    [Fact]
    public async Task Uncorked_WritesGoStraightThrough()
    {
        await using var pair = await SocketPair.OpenAsync();
        var counting = new CountingStream(new NetworkStream(pair.Server, ownsSocket: true));
        var cork = new CorkingStream(counting);
        using var server = WebSocket.CreateFromStream(cork, new WebSocketCreationOptions { IsServer = true });
        using var client = WebSocket.CreateFromStream(new NetworkStream(pair.Client, ownsSocket: true), new WebSocketCreationOptions { IsServer = false });

        await server.SendAsync("alone"u8.ToArray().AsMemory(), WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WithTimeout("a send");

        counting.Writes.ShouldBe(1);
        (await ReceiveTextAsync(client)).ShouldBe("alone");
    }

    [Fact]
    public async Task WritesDuringAFlush_GoOutAfterIt_InOrder()
    {
        var inner = new GatedStream();
        var cork = new CorkingStream(inner);
        cork.Cork();
        await cork.WriteAsync("a"u8.ToArray()).AsTask().WithTimeout("write a");
        var flushing = cork.UncorkAsync().AsTask();
        await inner.FirstWriteStarted.WithTimeout("the flush to start");

        // Another writer (a pong, say) while the first batch is on its way: it must neither overtake nor interleave.
        await cork.WriteAsync("b"u8.ToArray()).AsTask().WithTimeout("write b");
        inner.Open();
        await flushing.WithTimeout("the flush to finish");

        inner.Text.ShouldBe("ab");
        await cork.WriteAsync("c"u8.ToArray()).AsTask().WithTimeout("write c");
        inner.Text.ShouldBe("abc", "uncorked again once everything went out");
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        var buffer = new byte[64];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WithTimeout("a frame");
        result.EndOfMessage.ShouldBeTrue();
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    /// <summary>Counts the writes that reach the socket.</summary>
    private sealed class CountingStream(Stream inner) : UnseekableStream
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _writes);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Increment(ref _writes);
            inner.Write(buffer, offset, count);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Flush() => inner.Flush();

        public override bool CanRead => true;

        public override bool CanWrite => true;


        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>A sink whose first write waits until <see cref="Open"/>, to hold a flush in flight.</summary>
    private sealed class GatedStream : UnseekableStream
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly MemoryStream _written = new();

        public Task FirstWriteStarted => _started.Task;

        public string Text => Encoding.UTF8.GetString(_written.ToArray());

        public void Open() => _open.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var copy = buffer.ToArray();
            _started.TrySetResult();
            await _open.Task;
            _written.Write(copy);
        }

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("only async writes here");

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override bool CanRead => false;

        public override bool CanWrite => true;

    }

    /// <summary>What the test streams share: no seeking, no length.</summary>
    private abstract class UnseekableStream : Stream
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
