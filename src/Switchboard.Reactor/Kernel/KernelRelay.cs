using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Switchboard.Reactor.Kernel;

/// <summary>
/// Relays bytes between pairs of TCP sockets inside the kernel (Linux sockmap): once a pair is joined, what arrives on
/// either socket goes straight into the other's send queue, without waking the process or copying through it.
/// </summary>
/// <remarks>
/// Two sockhash maps and one eBPF stream verdict program. <c>peers</c> holds each socket under its partner's key, so
/// that a look-up by the key of the socket bytes arrived on finds where they go; the program, attached to
/// <c>relayed</c>, runs on every socket put there, builds that key from the packet's addresses and ports and redirects
/// the bytes. A pair enters <c>peers</c> first and <c>relayed</c> second, so the program never runs on a socket whose
/// partner it cannot find. Should it ever not find one, it passes the bytes to the socket's own reader instead of
/// dropping them. A closed socket leaves both maps by itself. IPv4 only: the key is the IPv4 four-tuple.
/// </remarks>
internal sealed class KernelRelay : IDisposable
{
    /// <summary>remote address, local address, remote port (as <c>__sk_buff</c> gives it), local port.</summary>
    private const int KeySize = 16;

    private const int SolSocket = 1;
    private const int SoReceiveLowWater = 18;

    private readonly int _peers;
    private readonly int _relayed;
    private readonly int _program;
    private int _disposed;

    private KernelRelay(int peers, int relayed, int program)
    {
        _peers = peers;
        _relayed = relayed;
        _program = program;
    }

    /// <summary>
    /// Sets up a relay for up to <paramref name="pairs"/> joined pairs at once, or returns null with the reason when
    /// this machine cannot (not Linux, no permission for bpf, a kernel without sockmap).
    /// </summary>
    public static KernelRelay? TryCreate(int pairs, out string? unavailable)
    {
        unavailable = null;
        if (!OperatingSystem.IsLinux() || Bpf.SyscallNumber == 0)
        {
            unavailable = "needs Linux on x64 or arm64";
            return null;
        }
        int peers = -1, relayed = -1, program = -1;
        try
        {
            peers = Bpf.CreateSockHash(KeySize, pairs * 2);
            relayed = Bpf.CreateSockHash(KeySize, pairs * 2);
            program = Bpf.LoadVerdictProgram(VerdictProgram(peers));
            Bpf.AttachVerdict(program, relayed);
            return new KernelRelay(peers, relayed, program);
        }
        catch (BpfException e)
        {
            foreach (var fd in new[] { program, relayed, peers })
            {
                if (fd >= 0)
                {
                    Native.CloseDescriptor(fd);
                }
            }
            unavailable = e.Message;
            return null;
        }
    }

    /// <summary>
    /// Hands <paramref name="a"/> and <paramref name="b"/> to the kernel: from now on each one's incoming bytes go to
    /// the other, including any already waiting unread. Returns false, with nothing changed, when the pair cannot be
    /// joined (not IPv4, the maps full); then the caller relays them itself. The caller must not read either socket
    /// afterwards except to see its end.
    /// </summary>
    /// <exception cref="BpfException">Only one of the two could be handed over; the pair can no longer be relayed either way and must be closed.</exception>
    public bool TryJoin(Socket a, Socket b, out string? failure)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        if (!TryKey(a, out var keyA) || !TryKey(b, out var keyB))
        {
            failure = "not an IPv4 TCP pair";
            return false;
        }
        var fdA = a.SafeHandle.DangerousGetHandle();
        var fdB = b.SafeHandle.DangerousGetHandle();
        // Bytes arriving on b go to a, so a is filed under b's key, and the other way round.
        var errno = Bpf.Put(_peers, keyB, fdA);
        if (errno == 0 && (errno = Bpf.Put(_peers, keyA, fdB)) != 0)
        {
            Bpf.Delete(_peers, keyB);
        }
        if (errno != 0)
        {
            failure = Bpf.Describe(errno);
            return false;
        }
        // From the first of these the program runs on that socket, and finds its partner already in peers.
        errno = Bpf.Put(_relayed, keyA, fdA);
        if (errno != 0)
        {
            Bpf.Delete(_peers, keyA);
            Bpf.Delete(_peers, keyB);
            failure = Bpf.Describe(errno);
            return false;
        }
        errno = Bpf.Put(_relayed, keyB, fdB);
        if (errno != 0)
        {
            throw new BpfException(errno, $"only one socket of the pair could be handed to the kernel ({Bpf.Describe(errno)})");
        }
        // Bytes that came before the program was attached wait in the receive queue until the next arrival runs it:
        // setting the low-water mark makes TCP look at the queue now.
        Kick(a);
        Kick(b);
        failure = null;
        return true;
    }

    /// <summary>
    /// First step of taking <paramref name="socket"/> out of the relay, before it is half-closed: the program stops
    /// running for it, so its later bytes wait in its receive queue, while what the kernel already took from it still
    /// goes on to its partner. Returns 0 or the errno.
    /// </summary>
    /// <remarks>
    /// Why: a FIN arriving on a half-closed socket ends it at once, which takes it out of both maps in the middle of
    /// receiving that segment, and bytes that came with the FIN were lost (a test saw it in 2 of 14 runs). Leaving
    /// <c>relayed</c> detaches the program, while <c>peers</c> still holds the socket's state.
    /// </remarks>
    public int Detach(Socket socket) => TryKey(socket, out var key) ? Forgiving(Bpf.Delete(_relayed, key)) : Bpf.NoEntry;

    /// <summary>
    /// Second step, a moment after <see cref="Detach"/>: drops the state the kernel kept for the socket detached from
    /// <paramref name="partner"/> (it is filed under the partner's key), so that reads and <c>SIOCINQ</c> see the plain
    /// TCP socket again. Not at once: a program that was running for the socket when it was detached must have
    /// finished, or it would find that state gone and drop the bytes it was passing on. Returns 0 or the errno.
    /// </summary>
    public int Forget(Socket partner) => TryKey(partner, out var key) ? Forgiving(Bpf.Delete(_peers, key)) : Bpf.NoEntry;

    /// <summary>Not there (the socket closed, or the relay is gone) is as good as taken out.</summary>
    private int Forgiving(int errno) => errno == Bpf.NoEntry || Volatile.Read(ref _disposed) == 1 ? 0 : errno;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        Native.CloseDescriptor(_program);
        Native.CloseDescriptor(_relayed);
        Native.CloseDescriptor(_peers);
    }

    private static void Kick(Socket socket) => socket.SetRawSocketOption(SolSocket, SoReceiveLowWater, BitConverter.GetBytes(1));

    /// <summary>The key the program builds for bytes arriving on <paramref name="socket"/>: its own four-tuple.</summary>
    internal static bool TryKey(Socket socket, out byte[] key)
    {
        key = [];
        // The layout below is the little-endian one.
        if (!BitConverter.IsLittleEndian || socket.AddressFamily != AddressFamily.InterNetwork
            || socket.RemoteEndPoint is not IPEndPoint remote || socket.LocalEndPoint is not IPEndPoint local)
        {
            return false;
        }
        key = new byte[KeySize];
        remote.Address.TryWriteBytes(key.AsSpan(0, 4), out _);
        local.Address.TryWriteBytes(key.AsSpan(4, 4), out _);
        // __sk_buff gives the remote port as the 16-bit network-order port shifted into the high half of a 32-bit
        // word, and the local port in host order: in memory, 00 00 hi lo and lo hi 00 00 on a little-endian machine.
        BinaryPrimitives.WriteUInt32BigEndian(key.AsSpan(8, 4), (uint)remote.Port);
        BitConverter.TryWriteBytes(key.AsSpan(12, 4), (uint)local.Port);
        return true;
    }

    /// <summary>
    /// The verdict program: copy the packet's remote and local address and port (offsets 92, 96, 132, 136 of
    /// <c>__sk_buff</c>) into a key on the stack, redirect to the socket <paramref name="peers"/> holds under it (into
    /// its send queue), and answer SK_PASS: with a redirect set that sends the bytes on, without one it keeps them.
    /// </summary>
    private static ulong[] VerdictProgram(int peers) =>
    [
        Instruction(0xbf, 6, 1, 0, 0),      // r6 = r1 (the packet)
        Instruction(0x61, 2, 1, 92, 0),     // r2 = remote_ip4
        Instruction(0x63, 10, 2, -16, 0),   // key[0..4] = r2
        Instruction(0x61, 2, 1, 96, 0),     // r2 = local_ip4
        Instruction(0x63, 10, 2, -12, 0),   // key[4..8] = r2
        Instruction(0x61, 2, 1, 132, 0),    // r2 = remote_port
        Instruction(0x63, 10, 2, -8, 0),    // key[8..12] = r2
        Instruction(0x61, 2, 1, 136, 0),    // r2 = local_port
        Instruction(0x63, 10, 2, -4, 0),    // key[12..16] = r2
        Instruction(0x18, 2, 1, 0, peers),  // r2 = the peers map (a 64-bit load from the map's descriptor)
        0,
        Instruction(0xbf, 3, 10, 0, 0),     // r3 = the frame pointer
        Instruction(0x07, 3, 0, 0, -16),    // r3 -= 16: the key
        Instruction(0xb7, 4, 0, 0, 0),      // r4 = 0: into the peer's send queue
        Instruction(0xbf, 1, 6, 0, 0),      // r1 = the packet
        Instruction(0x85, 0, 0, 0, 72),     // call bpf_sk_redirect_hash
        Instruction(0xb7, 0, 0, 0, 1),      // r0 = SK_PASS
        Instruction(0x95, 0, 0, 0, 0),      // exit
    ];

    private static ulong Instruction(byte code, int destination, int source, short offset, int immediate) =>
        code | (ulong)(byte)(destination | (source << 4)) << 8 | (ulong)(ushort)offset << 16 | (ulong)(uint)immediate << 32;
}
