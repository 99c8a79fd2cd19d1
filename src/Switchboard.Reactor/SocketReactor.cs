using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Switchboard.Reactor;

/// <summary>Something registered with a <see cref="SocketReactor"/>; its events arrive on the reactor's thread.</summary>
internal interface IReactorTarget
{
    /// <summary>
    /// Handles epoll events (<see cref="Native.EpollIn"/>, …) for the socket registered with <paramref name="tag"/>, or
    /// work posted with <see cref="SocketReactor.Post"/>. Runs on the reactor's thread and must not block.
    /// </summary>
    void OnEvents(uint events, int tag);
}

/// <summary>
/// One epoll instance and the thread that serves it, with no task, buffer or socket state of .NET's per socket: the
/// proxy's tunnels relay their bytes here and its handshakes wait here for readiness (docs/proxy.md, "Relay"); the
/// node's data-plane connections wait here for their next bytes (docs/configuration.md, <c>Node:SocketReactor</c>).
/// </summary>
/// <remarks>
/// A socket served here must never be used with .NET's own async socket methods: those register it with .NET's epoll
/// as well, and both would compete for its readiness.
/// </remarks>
internal sealed unsafe class SocketReactor : IDisposable
{
    /// <summary>The buffer every relay reads into; only the reactor's thread touches it.</summary>
    public const int BufferSize = 64 * 1024;

    private const int EventCapacity = 256;
    private const ulong WakeData = ulong.MaxValue;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly Action<Exception> _onError;
    private readonly ConcurrentQueue<(IReactorTarget Target, uint Events, int Tag)> _posted = new();
    private readonly Lock _slotsLock = new();
    private Slot[] _slots = new Slot[256];
    private int[] _free = new int[256];
    private int _freeCount;
    private int _used;
    private int _wakePending;
    private volatile bool _disposed;
    private readonly int _realtimePriority;
    private readonly TaskCompletionSource<ReactorThread> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private struct Slot
    {
        public IReactorTarget? Target;
        public int Tag;
        public uint Generation;
    }

    /// <param name="name">The name of the reactor's thread.</param>
    /// <param name="onError">Told about an exception a target let escape (a bug); the reactor carries on.</param>
    /// <param name="realtimePriority">
    /// 1–99: the reactor's thread runs under the real-time FIFO scheduler at that priority, so that a socket event
    /// wakes it at once instead of waiting for a busy core's next turn (<see cref="Started"/> tells whether the kernel
    /// allowed it); 0: the normal scheduler.
    /// </param>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see <see cref="IsSupported"/>).</exception>
    public SocketReactor(string name, Action<Exception> onError, int realtimePriority = 0)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("the socket reactor needs Linux (epoll)");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(realtimePriority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(realtimePriority, 99);
        _realtimePriority = realtimePriority;
        _onError = onError;
        _epoll = Native.CreateEpoll();
        _wake = Native.CreateEventFd();
        Native.AddEventFd(_epoll, _wake, WakeData);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Completes once the reactor's thread runs: its kernel id, and why a real-time priority asked for was refused.</summary>
    public Task<ReactorThread> Started => _started.Task;

    /// <summary>Whether this platform has what the reactor needs (epoll: Linux).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>The buffer relays read into; use it only on the reactor's thread.</summary>
    public byte[] Buffer { get; } = new byte[BufferSize];

    /// <summary>How many data words are reserved now: two per relayed tunnel, one per wait for readiness.</summary>
    public int Registered
    {
        get
        {
            lock (_slotsLock)
            {
                return _used - _freeCount;
            }
        }
    }

    /// <summary>Reserves the epoll data word that delivers events to <paramref name="target"/> with <paramref name="tag"/>.</summary>
    public ulong Register(IReactorTarget target, int tag)
    {
        lock (_slotsLock)
        {
            int index;
            if (_freeCount > 0)
            {
                index = _free[--_freeCount];
            }
            else
            {
                if (_used == _slots.Length)
                {
                    Array.Resize(ref _slots, _slots.Length * 2);
                    Array.Resize(ref _free, _slots.Length);
                }
                index = _used++;
            }
            ref var slot = ref _slots[index];
            slot.Target = target;
            slot.Tag = tag;
            return ((ulong)slot.Generation << 32) | (uint)index;
        }
    }

    /// <summary>Frees a data word: events already fetched for it are dropped, not delivered to whoever gets the slot next.</summary>
    public void Unregister(ulong data)
    {
        lock (_slotsLock)
        {
            ref var slot = ref _slots[(int)(uint)data];
            if (slot.Generation != (uint)(data >> 32))
            {
                return;
            }
            slot.Target = null;
            slot.Generation++;
            _free[_freeCount++] = (int)(uint)data;
        }
    }

    /// <summary>Adds <paramref name="socket"/> with <paramref name="events"/>; false when it is closed or cannot be added.</summary>
    public bool Add(Socket socket, uint events, ulong data) => Control(Native.EpollCtlAdd, socket, events, data);

    /// <summary>Changes the events <paramref name="socket"/> reports; false when it is closed or not added.</summary>
    public bool Modify(Socket socket, uint events, ulong data) => Control(Native.EpollCtlMod, socket, events, data);

    /// <summary>Removes <paramref name="socket"/>; a closed socket has left epoll already.</summary>
    public void Remove(Socket socket) => Control(Native.EpollCtlDel, socket, 0, 0);

    /// <summary>Runs <paramref name="target"/>'s <see cref="IReactorTarget.OnEvents"/> on the reactor's thread, after the events at hand.</summary>
    public void Post(IReactorTarget target, uint events, int tag)
    {
        if (_disposed)
        {
            target.OnEvents(events, tag);
            return;
        }
        _posted.Enqueue((target, events, tag));
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            Native.Signal(_wake);
        }
    }

    /// <summary>Completes when <paramref name="socket"/> is readable (or writable), has closed or has failed.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public Task WaitAsync(Socket socket, bool writable, CancellationToken cancellationToken) =>
        ReadinessWait.Start(this, socket, writable, cancellationToken);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Native.Signal(_wake);
        _thread.Join(TimeSpan.FromSeconds(5));
        RunPosted();
        Native.CloseDescriptor(_wake);
        Native.CloseDescriptor(_epoll);
    }

    private bool Control(int operation, Socket socket, uint events, ulong data)
    {
        try
        {
            return Native.Control(_epoll, operation, socket.SafeHandle, events, data) == 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private void Run()
    {
        // The priority first, so that nothing runs at the wrong one; the id only tells tests and tools which thread it is.
        var refused = _realtimePriority == 0 ? null : Native.SetRealtimePriority(_realtimePriority);
        _started.SetResult(new ReactorThread(Native.CurrentThreadId(), refused));
        var events = (byte*)NativeMemory.Alloc((nuint)(Native.EventSize * EventCapacity));
        try
        {
            while (!_disposed)
            {
                var count = Native.Wait(_epoll, events, EventCapacity, -1);
                for (var i = 0; i < count; i++)
                {
                    var data = Native.DataAt(events, i);
                    if (data == WakeData)
                    {
                        // Drain first, then reset: reset first, and a post in between would have its signal drained
                        // here while the flag stayed set, so no later post would signal again. The full fence makes
                        // the queue read below see every post that found the flag still set.
                        Native.Drain(_wake);
                        Interlocked.Exchange(ref _wakePending, 0);
                    }
                    else if (TryFind(data, out var target, out var tag))
                    {
                        Deliver(target, Native.EventsAt(events, i), tag);
                    }
                }
                RunPosted();
            }
        }
        catch (Exception e)
        {
            _onError(e);
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    private void RunPosted()
    {
        // Only what is queued now: work that posts itself again (a relay taking turns) waits for the next round.
        for (var pending = _posted.Count; pending > 0 && _posted.TryDequeue(out var work); pending--)
        {
            Deliver(work.Target, work.Events, work.Tag);
        }
    }

    private void Deliver(IReactorTarget target, uint events, int tag)
    {
        try
        {
            target.OnEvents(events, tag);
        }
        catch (Exception e)
        {
            _onError(e);
        }
    }

    private bool TryFind(ulong data, out IReactorTarget target, out int tag)
    {
        lock (_slotsLock)
        {
            var index = (int)(uint)data;
            if (index < _used && _slots[index] is { Target: { } found } slot && slot.Generation == (uint)(data >> 32))
            {
                target = found;
                tag = slot.Tag;
                return true;
            }
        }
        target = null!;
        tag = 0;
        return false;
    }
}

/// <summary>The reactor's thread once it runs.</summary>
/// <param name="ThreadId">Its kernel thread id (<c>/proc/self/task/{id}</c>); 0 where /proc does not tell.</param>
/// <param name="PriorityRefused">Why the real-time priority asked for was not given, or null (given, or none asked for).</param>
internal sealed record ReactorThread(int ThreadId, string? PriorityRefused);
