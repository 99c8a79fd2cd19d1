using System.Runtime.InteropServices;

namespace Switchboard.Reactor.Kernel;

/// <summary>
/// The few <c>bpf(2)</c> commands the kernel relay needs: create a sockhash, put a socket in it, load its stream
/// verdict program and attach that program to a map. Each returns the result or throws with the errno.
/// </summary>
internal static unsafe partial class Bpf
{
    /// <summary>ENOENT: the key was not in the map.</summary>
    public const int NoEntry = 2;

    private const int MapCreate = 0;
    private const int MapUpdateElement = 2;
    private const int MapDeleteElement = 3;
    private const int ProgramLoad = 5;
    private const int ProgramAttach = 8;

    private const int SockHash = 18;
    private const int SkSkbProgram = 14;
    private const int StreamVerdict = 5;

    /// <summary><c>union bpf_attr</c> is 144 bytes on 6.x kernels; older kernels accept a shorter one as long as the tail is zero.</summary>
    private const int AttributeSize = 144;

    /// <summary>The syscall number of <c>bpf</c>, or 0 where this code does not know it.</summary>
    public static readonly int SyscallNumber = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 321,
        Architecture.Arm64 => 280,
        _ => 0,
    };

    /// <summary>A sockhash of <paramref name="capacity"/> entries keyed by <paramref name="keySize"/> bytes.</summary>
    public static int CreateSockHash(int keySize, int capacity)
    {
        var attribute = stackalloc byte[AttributeSize];
        new Span<byte>(attribute, AttributeSize).Clear();
        *(int*)attribute = SockHash;
        *(int*)(attribute + 4) = keySize;
        *(int*)(attribute + 8) = sizeof(ulong); // the socket's descriptor, as the map takes it
        *(int*)(attribute + 12) = capacity;
        return Call(MapCreate, attribute, "BPF_MAP_CREATE");
    }

    /// <summary>Puts the socket <paramref name="socketFd"/> into <paramref name="map"/> under <paramref name="key"/>; returns 0 or the errno.</summary>
    public static int Put(int map, ReadOnlySpan<byte> key, long socketFd)
    {
        var attribute = stackalloc byte[AttributeSize];
        new Span<byte>(attribute, AttributeSize).Clear();
        var value = socketFd;
        fixed (byte* keyPointer = key)
        {
            *(int*)attribute = map;
            *(ulong*)(attribute + 8) = (ulong)keyPointer;
            *(ulong*)(attribute + 16) = (ulong)&value;
            return Syscall(MapUpdateElement, attribute) < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
    }

    /// <summary>Removes <paramref name="key"/> from <paramref name="map"/>; returns 0 or the errno (ENOENT: it was not there).</summary>
    public static int Delete(int map, ReadOnlySpan<byte> key)
    {
        var attribute = stackalloc byte[AttributeSize];
        new Span<byte>(attribute, AttributeSize).Clear();
        fixed (byte* keyPointer = key)
        {
            *(int*)attribute = map;
            *(ulong*)(attribute + 8) = (ulong)keyPointer;
            return Syscall(MapDeleteElement, attribute) < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
    }

    /// <summary>Loads <paramref name="instructions"/> as a stream verdict program; the verifier's log is in the exception when it refuses.</summary>
    public static int LoadVerdictProgram(ReadOnlySpan<ulong> instructions)
    {
        var attribute = stackalloc byte[AttributeSize];
        new Span<byte>(attribute, AttributeSize).Clear();
        var log = new byte[16 * 1024];
        var license = "GPL\0"u8;
        fixed (ulong* code = instructions)
        fixed (byte* licensePointer = license)
        fixed (byte* logPointer = log)
        {
            *(int*)attribute = SkSkbProgram;
            *(int*)(attribute + 4) = instructions.Length;
            *(ulong*)(attribute + 8) = (ulong)code;
            *(ulong*)(attribute + 16) = (ulong)licensePointer;
            *(int*)(attribute + 24) = 1; // log level: say why, if refused
            *(int*)(attribute + 28) = log.Length;
            *(ulong*)(attribute + 32) = (ulong)logPointer;
            var result = (int)Syscall(ProgramLoad, attribute);
            if (result >= 0)
            {
                return result;
            }
            var errno = Marshal.GetLastPInvokeError();
            var text = System.Text.Encoding.ASCII.GetString(log, 0, Math.Max(0, Array.IndexOf(log, (byte)0))).Trim();
            throw new BpfException(errno, $"BPF_PROG_LOAD failed ({Describe(errno)}){(text.Length > 0 ? ": " + text : "")}");
        }
    }

    /// <summary>Attaches <paramref name="program"/> to <paramref name="map"/> as its stream verdict: it then runs on every socket put there.</summary>
    public static void AttachVerdict(int program, int map)
    {
        var attribute = stackalloc byte[AttributeSize];
        new Span<byte>(attribute, AttributeSize).Clear();
        *(int*)attribute = map;
        *(int*)(attribute + 4) = program;
        *(int*)(attribute + 8) = StreamVerdict;
        Call(ProgramAttach, attribute, "BPF_PROG_ATTACH");
    }

    /// <summary>A short name for the errno values these calls give.</summary>
    public static string Describe(int errno) => errno switch
    {
        1 => "EPERM: not permitted, the process needs CAP_BPF and CAP_NET_ADMIN",
        12 => "ENOMEM",
        7 => "E2BIG: the map is full",
        22 => "EINVAL",
        38 => "ENOSYS: no bpf in this kernel",
        95 => "EOPNOTSUPP",
        _ => $"errno {errno}",
    };

    private static int Call(int command, byte* attribute, string name)
    {
        var result = (int)Syscall(command, attribute);
        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new BpfException(errno, $"{name} failed ({Describe(errno)})");
        }
        return result;
    }

    private static nint Syscall(int command, byte* attribute) => syscall(SyscallNumber, command, attribute, AttributeSize);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint syscall(nint number, nint command, byte* attribute, nint size);
}

/// <summary>A <c>bpf(2)</c> call failed; <see cref="Errno"/> says how.</summary>
internal sealed class BpfException(int errno, string message) : Exception(message)
{
    public int Errno { get; } = errno;
}
