using System.Net.Sockets;
using System.Text;

namespace Switchboard.Node.DataPlane;

/// <summary>Chooses a socket's TCP congestion control (Linux <c>TCP_CONGESTION</c>), for <see cref="NodeOptions.CongestionControl"/>.</summary>
internal static class CongestionControl
{
    private const int IpProtoTcp = 6;
    private const int TcpCongestion = 13;
    private const int EPerm = 1;
    private const string Available = "/proc/sys/net/ipv4/tcp_available_congestion_control";

    /// <summary>Sets <paramref name="name"/> on <paramref name="socket"/>; an <see cref="IOException"/> names the ones the kernel offers when it is not one of them.</summary>
    public static void Set(Socket socket, string name)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new IOException($"Node:CongestionControl '{name}' can only be chosen on Linux.");
        }
        try
        {
            socket.SetRawSocketOption(IpProtoTcp, TcpCongestion, Encoding.ASCII.GetBytes(name));
        }
        catch (SocketException e) when (e.NativeErrorCode == EPerm)
        {
            throw new IOException($"Node:CongestionControl '{name}' is in the kernel but this process may not choose it ({e.Message}): add it to net.ipv4.tcp_allowed_congestion_control, or run with CAP_NET_ADMIN.", e);
        }
        catch (SocketException e)
        {
            var offered = File.Exists(Available) ? File.ReadAllText(Available).Trim() : "unknown";
            throw new IOException($"Node:CongestionControl '{name}' is not available in this kernel ({e.Message}); it offers: {offered}.", e);
        }
    }
}
