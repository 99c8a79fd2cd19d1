using System.Net.Sockets;
using Switchboard.Reactor.Kernel;

namespace Switchboard.Proxy.Reactor;

/// <summary>
/// A tunnel whose bytes the kernel relays (<see cref="KernelRelay"/>): what the proxy itself had read and written on
/// each socket when the kernel took over. Against the kernel's own counters that tells when the kernel has passed on
/// everything a closed side sent, so that its end is passed on after its last byte and not before, and how many bytes
/// the kernel moved.
/// </summary>
internal sealed class KernelSplice
{
    private readonly KernelRelay _relay;
    private long _readFromClient;
    private long _readFromUpstream;
    private long _writtenToClient;
    private long _writtenToUpstream;
    private long _lastReceived = -1;

    private KernelSplice(KernelRelay relay, long readFromClient, long readFromUpstream, long writtenToClient, long writtenToUpstream)
    {
        _relay = relay;
        _readFromClient = readFromClient;
        _readFromUpstream = readFromUpstream;
        _writtenToClient = writtenToClient;
        _writtenToUpstream = writtenToUpstream;
    }

    /// <summary>
    /// Hands the pair to <paramref name="relay"/>; null (the proxy relays them itself) when the kernel cannot take
    /// it, with the reason in <paramref name="declined"/>. <paramref name="readFromClient"/> and
    /// <paramref name="readFromUpstream"/> are the bytes the proxy read from each before (the handshake's); everything
    /// it wrote to them has been written.
    /// </summary>
    /// <exception cref="BpfException">Only half the pair was handed over: the connection must be closed.</exception>
    public static KernelSplice? TryStart(KernelRelay relay, Socket client, Socket upstream, long readFromClient, long readFromUpstream, out string? declined)
    {
        // Nothing writes to either socket from here until the kernel does, so these are exact.
        var writtenToClient = TcpCounters.Written(client);
        var writtenToUpstream = TcpCounters.Written(upstream);
        return relay.TryJoin(client, upstream, out declined)
            ? new KernelSplice(relay, readFromClient, readFromUpstream, writtenToClient, writtenToUpstream)
            : null;
    }

    /// <summary>
    /// Takes <paramref name="socket"/> out of the kernel's relaying, before it is half-closed
    /// (<see cref="KernelRelay.Detach"/>): what arrives on it from now on waits for the proxy. False when the kernel
    /// refused.
    /// </summary>
    public bool Detach(Socket socket) => Taken(_relay.Detach, socket);

    /// <summary>A moment after <see cref="Detach"/>, drops what the kernel kept for the socket detached from <paramref name="partner"/> (<see cref="KernelRelay.Forget"/>). False when the kernel refused.</summary>
    public bool Forget(Socket partner) => Taken(_relay.Forget, partner);

    private static bool Taken(Func<Socket, int> step, Socket socket)
    {
        try
        {
            return step(socket) == 0;
        }
        catch (ObjectDisposedException)
        {
            return true; // closed from outside: a closed socket has left the kernel's maps by itself
        }
    }

    /// <summary>
    /// After its source was detached and forgotten: of the bytes the kernel took from that source, how many it has not
    /// yet put into the destination's send queue. Only once this is 0 may the proxy send that direction's later bytes itself, or
    /// they would overtake these.
    /// </summary>
    /// <exception cref="SocketException">A socket is no longer connected.</exception>
    public long KernelPending(bool toUpstream, Socket client, Socket upstream)
    {
        var (source, destination) = toUpstream ? (client, upstream) : (upstream, client);
        // In this order, a byte or a FIN that arrives between the reads can only make the answer too high, never too
        // low: the hand-back then waits one more look instead of letting later bytes overtake the kernel's.
        var unread = TcpCounters.Unread(source);
        var finReceived = TcpCounters.FinReceived(source);
        var received = TcpCounters.Received(source) - (finReceived ? 1 : 0);
        var kernelTook = received - unread - (toUpstream ? _readFromClient : _readFromUpstream);
        var kernelGave = TcpCounters.Written(destination) - (toUpstream ? _writtenToUpstream : _writtenToClient);
        return kernelTook - kernelGave;
    }

    /// <summary>Bytes the proxy read off a source and wrote on itself after the hand-over (a socket whose partner had gone, or a detached one).</summary>
    public void MovedByProxy(bool toUpstream, int read, int written)
    {
        if (toUpstream)
        {
            _readFromClient += read;
            _writtenToUpstream += written;
        }
        else
        {
            _readFromUpstream += read;
            _writtenToClient += written;
        }
    }

    /// <summary>
    /// Of what the source of this direction sent before its FIN (which must have come), the bytes the kernel has not
    /// yet put into the destination's send queue.
    /// </summary>
    /// <exception cref="SocketException">A socket is no longer connected.</exception>
    public long Unrelayed(bool toUpstream, Socket client, Socket upstream)
    {
        var (source, destination) = toUpstream ? (client, upstream) : (upstream, client);
        var sent = TcpCounters.Received(source) - 1; // the FIN counts as one
        var kernelTook = sent - (toUpstream ? _readFromClient : _readFromUpstream);
        var kernelGave = TcpCounters.Written(destination) - (toUpstream ? _writtenToUpstream : _writtenToClient);
        return kernelTook - kernelGave;
    }

    /// <summary>The bytes the kernel moved each way; <paramref name="upstreamEnded"/> and <paramref name="clientEnded"/> say whether the proxy sent that socket a FIN, which the counters include.</summary>
    public (long ToUpstream, long ToClient) KernelMoved(Socket client, Socket upstream, bool upstreamEnded, bool clientEnded) =>
        (TcpCounters.Written(upstream) - _writtenToUpstream - (upstreamEnded ? 1 : 0), TcpCounters.Written(client) - _writtenToClient - (clientEnded ? 1 : 0));

    /// <summary>Whether either side sent anything since the last call: the idle sweep's view of a tunnel the proxy never sees a byte of.</summary>
    public bool MovedSinceLastLook(Socket client, Socket upstream)
    {
        var received = TcpCounters.Received(client) + TcpCounters.Received(upstream);
        return Interlocked.Exchange(ref _lastReceived, received) != received;
    }
}
