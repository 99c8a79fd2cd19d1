using System.Net.Sockets;
using System.Text;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>A WebSocket client by hand over a plain TCP connection, for tests that must see what each socket read returns.</summary>
internal static class RawTcp
{
    /// <summary>Connects to <paramref name="url"/> (a node's data plane with a ticket) and completes the upgrade with the switchboard subprotocol.</summary>
    public static async Task<TcpClient> OpenWebSocketAsync(Uri url)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(url.Host, url.Port).WaitAsync(Eventually.DefaultTimeout);
        var request = $"GET {url.PathAndQuery} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: switchboard.v1\r\n\r\n";
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(request));
        (await ReadHeadAsync(tcp)).ShouldStartWith("HTTP/1.1 101 ");
        return tcp;
    }

    /// <summary>Reads an HTTP response head, byte by byte, so nothing after it is consumed.</summary>
    public static async Task<string> ReadHeadAsync(TcpClient tcp)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            (await tcp.GetStream().ReadAsync(one).AsTask().WithTimeout("the handshake answer")).ShouldBe(1, "the connection closed before the head ended");
            head.Add(one[0]);
        }
        return Encoding.ASCII.GetString(head.ToArray());
    }

    /// <summary>Reads frames until <paramref name="count"/> text frames have come, however the reads split them.</summary>
    public static async Task<List<string>> ReadTextFramesAsync(TcpClient tcp, int count)
    {
        var frames = new List<string>();
        var stream = tcp.GetStream();
        while (frames.Count < count)
        {
            var header = new byte[2];
            await stream.ReadExactlyAsync(header).AsTask().WithTimeout("a frame header");
            long length = header[1] & 0x7F;
            if (length == 126)
            {
                var extended = new byte[2];
                await stream.ReadExactlyAsync(extended).AsTask().WithTimeout("a frame length");
                length = (extended[0] << 8) | extended[1];
            }
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload).AsTask().WithTimeout("a frame payload");
            if ((header[0] & 0x0F) == 1)
            {
                frames.Add(Encoding.UTF8.GetString(payload));
            }
        }
        return frames;
    }

    /// <summary>A client's (masked) text frame.</summary>
    public static byte[] MaskedTextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        byte[] mask = [1, 2, 3, 4];
        var frame = new List<byte> { 0x81, (byte)(0x80 | payload.Length) };
        frame.AddRange(mask);
        frame.AddRange(payload.Select((b, i) => (byte)(b ^ mask[i % 4])));
        return [.. frame];
    }
}
