using System.Net;
using System.Net.Sockets;

namespace Switchboard.Protocol.Transport;

/// <summary>Binds outgoing sockets to a chosen local (source) address, for pools of addresses past one address's ports.</summary>
public static class SourceBinding
{
    // IP_BIND_ADDRESS_NO_PORT (Linux, level IPPROTO_IP for IPv4 and IPv6 sockets alike).
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    /// <summary>
    /// Binds <paramref name="socket"/> to <paramref name="source"/> and, on Linux, leaves its port to the connect. A plain
    /// bind to port 0 takes a port no other socket of that address may hold, whatever the destination: ~28k in all per
    /// source address. Picked at connect, the port need only be unique per destination, so each (source, destination)
    /// pair has its own ~28k.
    /// </summary>
    public static void Bind(Socket socket, IPAddress source)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
        }
        socket.Bind(new IPEndPoint(source, 0));
    }
}
