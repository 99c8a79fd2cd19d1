using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Switchboard.Bench.Load;
using Switchboard.Tests.Common;

namespace Switchboard.Bench.Tests.Load;

/// <summary>
/// The bench's own client frames, read over a real socket by .NET's server-side WebSocket (which refuses an unmasked or
/// malformed client frame): every length encoding, and frames that share the stream with the client WebSocket's pongs.
/// </summary>
public sealed class MaskedFrameTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(125)]
    [InlineData(126)]
    [InlineData(1000)]
    [InlineData(65_535)]
    [InlineData(65_536)]
    [InlineData(70_001)]
    public async Task AServerWebSocket_ReadsTheFrame_AsTheMessageSent(int length)
    {
        var (client, server) = await ConnectedPairAsync();
        using var _ = client;
        using var serverSocket = WebSocket.CreateFromStream(new NetworkStream(server, ownsSocket: true), new WebSocketCreationOptions { IsServer = true });
        var message = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, length).Select(i => (char)('a' + (i % 26)))));
        var frame = new byte[MaskedFrame.Length(length)];

        var written = MaskedFrame.Encode(frame, message, (uint)Random.Shared.NextInt64());
        await client.SendAsync(frame.AsMemory(0, written)).AsTask().WithTimeout("the frame's write");

        written.ShouldBe(frame.Length);
        var received = await ReceiveMessageAsync(serverSocket).WithTimeout("the message");
        received.Type.ShouldBe(WebSocketMessageType.Text);
        received.Bytes.ShouldBe(message);
    }

    [Fact]
    public void Encode_RefusesADestinationShorterThanTheFrame()
    {
        var message = new byte[10];

        Should.Throw<ArgumentException>(() => MaskedFrame.Encode(new byte[MaskedFrame.Length(10) - 1], message, 1));
    }

    [Fact]
    public async Task FramesFromSeveralSenders_AndTheClientsPongs_ShareTheStream_Intact()
    {
        var (client, server) = await ConnectedPairAsync();
        // The server pings every 5 ms and gives up on the connection if a pong does not come back.
        using var serverSocket = WebSocket.CreateFromStream(new NetworkStream(server, ownsSocket: true), new WebSocketCreationOptions
        {
            IsServer = true,
            KeepAliveInterval = TimeSpan.FromMilliseconds(5),
            KeepAliveTimeout = TimeSpan.FromSeconds(5),
        });
        // Each write reaches the socket in small pieces with a yield between them, so writes that did not take turns
        // would interleave their pieces and the server would see broken frames.
        var socketStream = new PongCounter(new PiecemealWrites(new NetworkStream(client, ownsSocket: true)));
        var stream = new ReadAheadStream(socketStream);
        using var clientSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        // The client's WebSocket answers pings only while something reads it.
        var clientReading = clientSocket.ReceiveAsync(new byte[16], CancellationToken.None);
        const int senders = 4;
        const int perSender = 500;

        var sending = Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            for (var i = 0; i < perSender; i++)
            {
                var message = Encoding.ASCII.GetBytes($"{s}:{i}:" + new string('x', i % 300));
                var frame = new byte[MaskedFrame.Length(message.Length)];
                await stream.WriteAsync(frame.AsMemory(0, MaskedFrame.Encode(frame, message, (uint)Random.Shared.NextInt64())));
                if (i % 50 == 0)
                {
                    await Task.Delay(10); // let some pings and their pongs fall between the messages
                }
            }
        })).ToArray();
        var next = new int[senders];
        for (var n = 0; n < senders * perSender; n++)
        {
            var received = await ReceiveMessageAsync(serverSocket).WithTimeout("the next message");
            var parts = Encoding.ASCII.GetString(received.Bytes).Split(':');
            var sender = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            // Each sender's messages arrive whole and in its order.
            int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture).ShouldBe(next[sender]);
            parts[2].Length.ShouldBe(next[sender] % 300);
            next[sender]++;
        }
        await Task.WhenAll(sending).WithTimeout("the senders");

        next.ShouldAllBe(count => count == perSender);
        socketStream.Pongs.ShouldBeGreaterThan(0);
        serverSocket.State.ShouldBe(WebSocketState.Open);
        clientReading.IsCompleted.ShouldBeFalse();
    }

    /// <summary>Passes each write on 7 bytes at a time, yielding between the pieces.</summary>
    private sealed class PiecemealWrites(Stream inner) : Switchboard.Protocol.Transport.ReadLayerStream(inner)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Inner.ReadAsync(buffer, cancellationToken);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            for (var at = 0; at < buffer.Length; at += 7)
            {
                await Inner.WriteAsync(buffer[at..Math.Min(buffer.Length, at + 7)], cancellationToken);
                await Task.Yield();
            }
        }
    }

    /// <summary>Counts the client's pong frames (first byte 0x8A: FIN, opcode 10) on their way to the socket.</summary>
    private sealed class PongCounter(Stream inner) : Switchboard.Protocol.Transport.ReadLayerStream(inner)
    {
        private int _pongs;

        public int Pongs => Volatile.Read(ref _pongs);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Inner.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.Length > 0 && buffer.Span[0] == 0x8A)
            {
                Interlocked.Increment(ref _pongs);
            }
            return Inner.WriteAsync(buffer, cancellationToken);
        }
    }

    private static async Task<(Socket Client, Socket Server)> ConnectedPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Eventually.DefaultTimeout);
        var server = await listener.AcceptAsync().WaitAsync(Eventually.DefaultTimeout);
        return (client, server);
    }

    private static async Task<(WebSocketMessageType Type, byte[] Bytes)> ReceiveMessageAsync(WebSocket socket)
    {
        var buffer = new byte[128 * 1024];
        var filled = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(filled), CancellationToken.None);
            filled += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, buffer[..filled]);
            }
        }
    }
}
