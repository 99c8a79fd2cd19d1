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
    private const int InputQueue = 0x541B; // SIOCINQ: received and not yet taken, by a read or by the kernel relay
    private const int StateOffset = 0;
    private const int BytesAckedOffset = 120;
    private const int BytesReceivedOffset = 128;
    private const int InfoSize = 232;

    /// <summary>Every byte ever written into the socket: acknowledged by the peer or still in its send queue.</summary>
    /// <exception cref="SocketException">The socket is not a connected TCP socket.</exception>
    public static long Written(Socket socket)
    {
        return Info(socket, BytesAckedOffset) + Queue(socket, OutputQueue);
    }

    /// <summary>Bytes received and not yet taken off the socket, by a read or by the kernel relay; never the FIN.</summary>
    /// <exception cref="SocketException">The socket is not a TCP socket.</exception>
    public static long Unread(Socket socket) => Queue(socket, InputQueue);

    /// <summary>Whether the peer's FIN has come (or the connection is gone): the states after it, from <c>TCP_INFO</c>.</summary>
    /// <exception cref="SocketException">The socket is not a TCP socket.</exception>
    public static bool FinReceived(Socket socket)
    {
        Span<byte> info = stackalloc byte[InfoSize];
        socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
        // TIME_WAIT 6, CLOSE 7, CLOSE_WAIT 8, LAST_ACK 9, CLOSING 11.
        return info[StateOffset] is 6 or 7 or 8 or 9 or 11;
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

    private static int Queue(Socket socket, int request)
    {
        int bytes;
        if (ioctl(socket.SafeHandle, request, &bytes) < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        return bytes;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(SafeSocketHandle fd, nint request, int* value);
}
