using System.Net;
using System.Net.Sockets;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Reactor;
using Switchboard.Reactor;

namespace Switchboard.Proxy.Listening;

/// <summary>One accepted client and, once dialled, its upstream socket. Its lifetime is one task in the listener.</summary>
internal sealed class ClientConnection(Socket client, IPEndPoint remote, long now)
{
    private long _lastActivity = now;
    private Socket? _upstream;
    private ReactorRelay? _relay;
    private int _closed;
    private int _firstEnd;

    /// <summary>The client failed first (a reset or error).</summary>
    public const int EndedFromClient = 1;

    /// <summary>The backend failed first (a reset or error reading from or writing to it).</summary>
    public const int EndedFromBackend = 2;

    /// <summary>A <see cref="FirstEnd"/>: one side closed cleanly (a FIN), which is how a tunnel normally ends.</summary>
    public const int EndedCleanly = 3;

    public Socket Client { get; } = client;

    public IPEndPoint Remote { get; } = remote;

    public Backend? Backend { get; set; }

    /// <summary>The reactor that serves this connection's sockets from accept to close; null in failover mode.</summary>
    public SocketReactor? Reactor { get; init; }

    public Socket? Upstream
    {
        get => Volatile.Read(ref _upstream);
        set
        {
            Volatile.Write(ref _upstream, value);
            if (Volatile.Read(ref _closed) == 1)
            {
                value?.Dispose(); // closed by the sweeper while dialling
            }
        }
    }

    /// <summary>Why the connection was closed from outside (idle timeout, shutdown), or null.</summary>
    public string? ClosedBecause { get; private set; }

    /// <summary>A <see cref="TimeProvider.GetTimestamp"/> of the latest byte moved either way.</summary>
    public long LastActivity => Interlocked.Read(ref _lastActivity);

    /// <summary>
    /// How the relay first ended: 0 while both sides are open, <see cref="EndedCleanly"/> when a side closed, else the
    /// side that failed (<see cref="EndedFromClient"/>, <see cref="EndedFromBackend"/>).
    /// </summary>
    public int FirstEnd => Volatile.Read(ref _firstEnd);

    /// <summary>Records that one side ended; only the first call counts. A close by the proxy itself (idle, shutdown) marks nothing.</summary>
    public void MarkEnd(int side)
    {
        if (Volatile.Read(ref _closed) == 0)
        {
            Interlocked.CompareExchange(ref _firstEnd, side, 0);
        }
    }

    /// <summary>Hands the connection's bytes to <paramref name="relay"/>, which a <see cref="Close(string?)"/> then ends.</summary>
    public void Attach(ReactorRelay relay)
    {
        Volatile.Write(ref _relay, relay);
        if (Volatile.Read(ref _closed) == 1)
        {
            relay.Abort(); // closed while it was being set up
        }
    }

    public void Touch(long now) => Interlocked.Exchange(ref _lastActivity, now);

    /// <summary>Brings <see cref="LastActivity"/> up to date for bytes the kernel relayed, which the proxy never sees.</summary>
    public void NoteKernelTraffic(long now) => Volatile.Read(ref _relay)?.NoteKernelTraffic(now);

    /// <summary>Closes both sockets at once, which ends the relay. Idempotent.</summary>
    public void Close(string? because = null)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }
        ClosedBecause ??= because;
        // A side that failed (a reset, an error) is passed on as a reset, so the other end does not take a clean end
        // for "nothing more to say": as if it were connected to the failed side itself.
        var firstEnd = FirstEnd;
        Close(Client, reset: firstEnd == EndedFromBackend);
        Close(Volatile.Read(ref _upstream), reset: firstEnd == EndedFromClient);
        // The sockets left the reactor's epoll as they closed; the relay must still hear of it.
        Volatile.Read(ref _relay)?.Abort();
    }

    /// <summary>
    /// Ends <paramref name="socket"/> with a FIN, or with a reset (<paramref name="reset"/>: linger on, zero timeout).
    /// For a FIN, disposing alone is not enough: when another thread is inside a call on the socket at that moment (the
    /// reactor), .NET unblocks it by disconnecting, which resets the peer.
    /// </summary>
    private static void Close(Socket? socket, bool reset)
    {
        if (socket is null)
        {
            return;
        }
        try
        {
            if (reset)
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            else
            {
                socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected yet, or already gone: there is nothing to send.
        }
        socket.Dispose();
    }
}
