using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Switchboard.Reactor.Kernel;

/// <summary>
/// A TCP socket's byte counters as the kernel keeps them (<c>TCP_INFO</c>, <c>SIOCOUTQ</c>): the only way to see what
/// the kernel relay moved, since those bytes never pass through the process.
/// </summary>
internal static unsafe partial class TcpCounters
{
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const int OutputQueue = 0x5411; // SIOCOUTQ: written but not yet acknowledged
    private const int BytesAckedOffset = 120;
    private const int BytesReceivedOffset = 128;
    private const int InfoSize = 232;

    /// <summary>Every byte ever written into the socket: acknowledged by the peer or still in its send queue.</summary>
    /// <exception cref="SocketException">The socket is not a connected TCP socket.</exception>
    public static long Written(Socket socket)
    {
        var acked = Info(socket, BytesAckedOffset);
        int queued;
        if (ioctl(socket.SafeHandle, OutputQueue, &queued) < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        return acked + queued;
    }

    /// <summary>Every byte the peer sent; one more once its FIN has come, which TCP counts as a byte of sequence space.</summary>
    /// <exception cref="SocketException">The socket is not a connected TCP socket.</exception>
    public static long Received(Socket socket) => Info(socket, BytesReceivedOffset);

    private static long Info(Socket socket, int offset)
    {
        Span<byte> info = stackalloc byte[InfoSize];
        var length = socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
        if (length < offset + sizeof(ulong))
        {
            throw new SocketException((int)SocketError.OperationNotSupported, "TCP_INFO lacks the byte counters (a kernel older than 4.19)");
        }
        return (long)BitConverter.ToUInt64(info[offset..]);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(SafeSocketHandle fd, nint request, int* value);
}
