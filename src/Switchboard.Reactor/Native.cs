using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Switchboard.Reactor;

/// <summary>The few Linux calls the reactor makes itself: epoll, an eventfd to wake it, and non-blocking recv/send.</summary>
/// <remarks>
/// Sockets are passed as their <see cref="SafeSocketHandle"/>, so a socket disposed on another thread is never closed
/// during a call, and a call after the dispose throws <see cref="ObjectDisposedException"/> rather than reaching a
/// descriptor number the kernel has since given to another socket.
/// </remarks>
internal static unsafe partial class Native
{
    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCtlMod = 3;

    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollOneShot = 1u << 30;
    public const uint EpollEdgeTriggered = 1u << 31;

    public const int EAgain = 11;
    public const int EIntr = 4;
    public const int EPipe = 32;

    private const int CloseOnExec = 0x80000; // EPOLL_CLOEXEC and EFD_CLOEXEC
    private const int EventFdNonBlocking = 0x800;
    private const int MsgPeek = 0x2;
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;

    /// <summary>
    /// <c>struct epoll_event</c> is packed on x86-64 (12 bytes: events at 0, data at 4) and naturally aligned elsewhere
    /// (16 bytes, data at 8).
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int DataOffset = EventSize == 12 ? 4 : 8;

    public static uint EventsAt(byte* events, int index) => *(uint*)(events + index * EventSize);

    public static ulong DataAt(byte* events, int index) => *(ulong*)(events + index * EventSize + DataOffset);

    public static int CreateEpoll() => Check(epoll_create1(CloseOnExec), "epoll_create1");

    public static int CreateEventFd() => Check(eventfd(0, CloseOnExec | EventFdNonBlocking), "eventfd");

    /// <summary>Adds, changes or removes <paramref name="socket"/> in <paramref name="epoll"/>; returns 0 or the errno.</summary>
    public static int Control(int epoll, int operation, SafeSocketHandle socket, uint events, ulong data)
    {
        var buffer = stackalloc byte[16];
        *(uint*)buffer = events;
        *(ulong*)(buffer + DataOffset) = data;
        return epoll_ctl(epoll, operation, socket, buffer) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    public static void AddEventFd(int epoll, int eventFd, ulong data)
    {
        var buffer = stackalloc byte[16];
        *(uint*)buffer = EpollIn;
        *(ulong*)(buffer + DataOffset) = data;
        Check(epoll_ctl(epoll, EpollCtlAdd, eventFd, buffer), "epoll_ctl");
    }

    /// <summary>Waits for events; returns their count, or 0 when interrupted.</summary>
    public static int Wait(int epoll, byte* events, int capacity, int timeoutMilliseconds)
    {
        var count = epoll_wait(epoll, events, capacity, timeoutMilliseconds);
        if (count >= 0)
        {
            return count;
        }
        var errno = Marshal.GetLastPInvokeError();
        return errno == EIntr ? 0 : throw new SocketException(errno);
    }

    public static void Signal(int eventFd)
    {
        ulong one = 1;
        // A full counter (EAGAIN) is already a pending wake-up.
        _ = write(eventFd, &one, sizeof(ulong));
    }

    public static void Drain(int eventFd)
    {
        ulong value;
        _ = read(eventFd, &value, sizeof(ulong));
    }

    public static void CloseDescriptor(int fd) => _ = close(fd);

    /// <summary>A non-blocking receive: the bytes read (0 at end of stream), or -1 with <paramref name="errno"/> set.</summary>
    public static int Receive(SafeSocketHandle socket, Span<byte> buffer, out int errno)
    {
        fixed (byte* pointer = buffer)
        {
            while (true)
            {
                var read = recv(socket, pointer, buffer.Length, MsgDontWait);
                errno = read < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (errno != EIntr)
                {
                    return (int)read;
                }
            }
        }
    }

    /// <summary>
    /// Whether bytes are waiting without taking them (a zero-byte read): 1 when some are, 0 at end of stream, or -1 with
    /// <paramref name="errno"/> set (<see cref="EAgain"/>: none yet).
    /// </summary>
    public static int Peek(SafeSocketHandle socket, out int errno)
    {
        byte one;
        while (true)
        {
            var read = recv(socket, &one, 1, MsgPeek | MsgDontWait);
            errno = read < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno != EIntr)
            {
                return (int)read;
            }
        }
    }

    /// <summary>A non-blocking send: the bytes the kernel took, or -1 with <paramref name="errno"/> set.</summary>
    public static int Send(SafeSocketHandle socket, ReadOnlySpan<byte> buffer, out int errno)
    {
        fixed (byte* pointer = buffer)
        {
            while (true)
            {
                var sent = send(socket, pointer, buffer.Length, MsgDontWait | MsgNoSignal);
                errno = sent < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (errno != EIntr)
                {
                    return (int)sent;
                }
            }
        }
    }

    /// <summary>The <see cref="SocketException"/> for an errno of recv, send or connect.</summary>
    public static SocketException ToException(int errno) => new((int)(errno switch
    {
        104 => SocketError.ConnectionReset,
        111 => SocketError.ConnectionRefused,
        110 => SocketError.TimedOut,
        32 => SocketError.Shutdown,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        103 => SocketError.ConnectionAborted,
        107 => SocketError.NotConnected,
        _ => SocketError.SocketError,
    }));

    /// <summary>
    /// Puts the calling thread under the real-time FIFO scheduler at <paramref name="priority"/> (1–99); returns null,
    /// or why the kernel refused (no CAP_SYS_NICE, or a real-time budget of 0 for this group).
    /// </summary>
    public static string? SetRealtimePriority(int priority)
    {
        const int SchedFifo = 1;
        var parameter = priority;
        if (sched_setscheduler(0, SchedFifo, &parameter) == 0)
        {
            return null;
        }
        return Marshal.GetLastPInvokeError() switch
        {
            1 => "not permitted (EPERM): it needs root or CAP_SYS_NICE, and a real-time budget for the process's control group",
            38 => "not supported by this C library (ENOSYS; musl does not implement it)",
            var errno => $"sched_setscheduler failed (errno {errno})",
        };
    }

    /// <summary>
    /// The calling thread's kernel id, as /proc/self/task names it, from /proc/thread-self (no libc wrapper: glibc has
    /// one only since 2.30); 0 where /proc does not tell.
    /// </summary>
    public static int CurrentThreadId()
    {
        try
        {
            // The link reads "<pid>/task/<tid>".
            var target = new DirectoryInfo("/proc/thread-self").LinkTarget;
            return int.TryParse(Path.GetFileName(target), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static int Check(int result, string call) =>
        result >= 0 ? result : throw new SocketException(Marshal.GetLastPInvokeError(), $"{call} failed");

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    // pid 0: the calling thread. The parameter is struct sched_param, whose one field is the int priority.
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, int* param);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, SafeSocketHandle fd, byte* @event);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* @event);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, void* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, void* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(SafeSocketHandle sockfd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(SafeSocketHandle sockfd, byte* buf, nint len, int flags);
}
