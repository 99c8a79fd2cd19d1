using System.Net.Sockets;

namespace Switchboard.Reactor;

/// <summary>One wait for a socket to become readable or writable: a one-shot epoll registration and a task.</summary>
internal sealed class ReadinessWait : IReactorTarget
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SocketReactor _reactor;
    private readonly Socket _socket;
    private ulong _data;
    private CancellationTokenRegistration _cancellation;
    private int _ended;

    private ReadinessWait(SocketReactor reactor, Socket socket)
    {
        _reactor = reactor;
        _socket = socket;
    }

    public static Task Start(SocketReactor reactor, Socket socket, bool writable, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var wait = new ReadinessWait(reactor, socket);
        wait._data = reactor.Register(wait, 0);
        // Error and hang-up are always reported: a wait ends when the socket has something to say, good or bad.
        if (!reactor.Add(socket, (writable ? Native.EpollOut : Native.EpollIn) | Native.EpollOneShot, wait._data))
        {
            reactor.Unregister(wait._data);
            throw new ObjectDisposedException(nameof(Socket), "the socket was closed");
        }
        wait._cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((ReadinessWait)state!).End(token), wait);
        return wait._done.Task;
    }

    public void OnEvents(uint events, int tag) => End(cancelledBy: null);

    private void End(CancellationToken? cancelledBy)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }
        _reactor.Remove(_socket);
        _reactor.Unregister(_data);
        _cancellation.Unregister();
        if (cancelledBy is { } token)
        {
            _done.TrySetCanceled(token);
        }
        else
        {
            _done.TrySetResult();
        }
    }
}
