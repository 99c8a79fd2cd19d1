using System.Net;
using System.Net.Sockets;
using Switchboard.Bench.Load;
using Switchboard.Tests.Common;

namespace Switchboard.Bench.Tests.Load;

/// <summary>The load generator's read-ahead over a real socket: every byte arrives once and in order, however the reader slices it.</summary>
public sealed class ReadAheadStreamTests
{
    [Fact]
    public async Task SmallReads_GetEveryByteInOrder_FromLargerSocketReads()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Eventually.DefaultTimeout);
        using var server = await listener.AcceptAsync().WaitAsync(Eventually.DefaultTimeout);
        var sent = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        await using var reader = new ReadAheadStream(new NetworkStream(client, ownsSocket: false));

        var sending = Task.Run(async () =>
        {
            // Uneven writes, so reads find partial chunks as well as whole ones.
            for (var at = 0; at < sent.Length;)
            {
                var n = Math.Min(sent.Length - at, 1 + (at % 5000));
                await server.SendAsync(sent.AsMemory(at, n));
                at += n;
            }
            server.Shutdown(SocketShutdown.Send);
        });
        var received = new MemoryStream();
        var slice = new byte[20_000];
        for (var reads = 0; ; reads++)
        {
            // Zero-byte waits, header-sized reads and, now and then, one larger than a chunk (straight from the socket).
            (await reader.ReadAsync(Memory<byte>.Empty).AsTask().WithTimeout("a zero-byte read")).ShouldBe(0);
            var size = reads % 10 == 9 ? slice.Length : 1 + (int)(received.Length % 139);
            var read = await reader.ReadAsync(slice.AsMemory(0, size)).AsTask().WithTimeout("the next bytes");
            if (read == 0)
            {
                break;
            }
            received.Write(slice, 0, read);
        }
        await sending.WithTimeout("the sender");

        received.ToArray().ShouldBe(sent);
        (await reader.ReadAsync(slice.AsMemory(0, 10)).AsTask().WithTimeout("the end again")).ShouldBe(0);
    }
}
