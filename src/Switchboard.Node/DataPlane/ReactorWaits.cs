using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Switchboard.Reactor;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// A data-plane socket's waits on the node's <see cref="SocketReactor"/>: the receive that found no bytes (finished
/// once bytes come, with the caller's buffer, by the <see cref="ReceiveDispatcher"/>) and the send that found the
/// socket's buffer full.
/// The socket stays registered edge-triggered for its whole life, so a connection waiting for bytes holds this object
/// and its registration, not .NET's per-socket receive state (its async context, cached event args and operation).
/// </summary>
/// <remarks>
/// Each direction is <see cref="Idle"/>, <see cref="Ready"/> (an edge came while nobody waited: try again before
/// waiting) or <see cref="Waiting"/>. Whoever moves a direction out of <see cref="Waiting"/> (the reactor, a
/// cancellation, the dispose) finishes its wait, so every wait finishes exactly once.
/// </remarks>
internal sealed class ReactorWaits : IReactorTarget, IValueTaskSource<int>
{
    private const int Idle = 0;
    private const int Ready = 1;
    private const int Waiting = 2;

    private const uint Readable = Native.EpollIn | Native.EpollRdHup | Native.EpollHup | Native.EpollErr;
    private const uint Writable = Native.EpollOut | Native.EpollHup | Native.EpollErr;

    private readonly Socket _socket;
    private readonly SocketReactor _reactor;
    private readonly ReceiveDispatcher _dispatcher;
    private readonly ulong _data;
    private ManualResetValueTaskSourceCore<int> _receive;
    private Memory<byte> _buffer;
    private CancellationToken _receiveToken;
    private CancellationTokenRegistration _receiveCancellation;
    private int _receiveState;
    private SendWait? _send;
    private int _sendState;
    private volatile bool _closed;

    private ReactorWaits(Socket socket, SocketReactor reactor, ReceiveDispatcher dispatcher)
    {
        _socket = socket;
        _reactor = reactor;
        _dispatcher = dispatcher;
        _data = reactor.Register(this, 0);
    }

    /// <summary>
    /// Registers <paramref name="socket"/> (non-blocking) with <paramref name="reactor"/>, its ready receives to be
    /// finished by <paramref name="dispatcher"/>; null when it cannot be added.
    /// </summary>
    public static ReactorWaits? Start(Socket socket, SocketReactor reactor, ReceiveDispatcher dispatcher)
    {
        var waits = new ReactorWaits(socket, reactor, dispatcher);
        if (reactor.Add(socket, Readable | Writable | Native.EpollEdgeTriggered, waits._data))
        {
            return waits;
        }
        reactor.Unregister(waits._data);
        return null;
    }

    /// <summary>Receives into <paramref name="buffer"/>, waiting on the reactor when no bytes are there yet.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        while (true)
        {
            int read;
            int errno;
            try
            {
                read = TryReceive(buffer.Span, out errno);
            }
            catch (ObjectDisposedException e)
            {
                return ValueTask.FromException<int>(e);
            }
            if (read >= 0)
            {
                return ValueTask.FromResult(read);
            }
            if (errno != Native.EAgain)
            {
                return ValueTask.FromException<int>(Failure(errno));
            }
            if (TryConsumeReady(ref _receiveState))
            {
                continue;
            }
            _receive.Reset();
            _buffer = buffer;
            _receiveToken = cancellationToken;
            // Registered before the wait is published: a cancellation can then only find this wait, never a later one.
            _receiveCancellation = cancellationToken.UnsafeRegister(static (state, token) => ((ReactorWaits)state!).CancelReceive(token), this);
            if (Interlocked.CompareExchange(ref _receiveState, Waiting, Idle) != Idle)
            {
                // An edge came since the try: try again.
                _receiveCancellation.Unregister();
                Volatile.Write(ref _receiveState, Idle);
                continue;
            }
            if (cancellationToken.IsCancellationRequested || _closed)
            {
                CancelReceive(cancellationToken);
            }
            return new ValueTask<int>(this, _receive.Version);
        }
    }

    /// <summary>Completes when the socket can take more bytes (or has failed, or was closed).</summary>
    public ValueTask WritableAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (TryConsumeReady(ref _sendState))
        {
            return ValueTask.CompletedTask;
        }
        var send = _send ??= new SendWait();
        var wait = send.Prepare(this, cancellationToken);
        if (Interlocked.CompareExchange(ref _sendState, Waiting, Idle) != Idle)
        {
            Volatile.Write(ref _sendState, Idle);
            send.Finish(null);
        }
        else if (cancellationToken.IsCancellationRequested || _closed)
        {
            CancelSend(cancellationToken);
        }
        return wait;
    }

    /// <summary>Leaves the reactor and finishes the waits: a receive gets what the socket says now (0 once shut down).</summary>
    public void Close()
    {
        _closed = true;
        _reactor.Unregister(_data);
        if (Interlocked.CompareExchange(ref _receiveState, Idle, Waiting) == Waiting)
        {
            FinishReceive(inline: false);
        }
        if (Interlocked.CompareExchange(ref _sendState, Idle, Waiting) == Waiting)
        {
            _send!.Finish(null);
        }
    }

    /// <inheritdoc/>
    public void OnEvents(uint events, int tag)
    {
        if ((events & Readable) != 0 && Signal(ref _receiveState))
        {
            _dispatcher.Enqueue(this);
        }
        if ((events & Writable) != 0 && Signal(ref _sendState))
        {
            _send!.Finish(null);
        }
    }

    /// <summary>An edge: true when it ends a wait (which the caller then finishes), else the direction is marked ready.</summary>
    private static bool Signal(ref int state)
    {
        while (true)
        {
            var current = Volatile.Read(ref state);
            if (current == Ready || Interlocked.CompareExchange(ref state, current == Waiting ? Idle : Ready, current) == current)
            {
                return current == Waiting;
            }
        }
    }

    private static bool TryConsumeReady(ref int state) => Interlocked.CompareExchange(ref state, Idle, Ready) == Ready;

    /// <summary>
    /// Runs where the receive left <see cref="Waiting"/> (so nobody else touches it): takes the bytes, or waits on.
    /// <paramref name="inline"/>: the reader resumes on this thread (a dispatcher's work item); otherwise it is queued,
    /// since the caller (a dispose, a cancellation) may hold locks of its own.
    /// </summary>
    public void FinishReceive(bool inline = true)
    {
        while (true)
        {
            int read;
            int errno;
            try
            {
                read = TryReceive(_buffer.Span, out errno);
            }
            catch (ObjectDisposedException e)
            {
                CompleteReceive(0, e, inline);
                return;
            }
            if (read >= 0)
            {
                CompleteReceive(read, null, inline);
                return;
            }
            if (errno != Native.EAgain)
            {
                CompleteReceive(0, Failure(errno), inline);
                return;
            }
            // A spurious edge: wait on, unless another edge came since the try.
            if (TryConsumeReady(ref _receiveState) || Interlocked.CompareExchange(ref _receiveState, Waiting, Idle) != Idle)
            {
                Volatile.Write(ref _receiveState, Idle);
                continue;
            }
            if (_receiveToken.IsCancellationRequested || _closed)
            {
                CancelReceive(_receiveToken);
            }
            return;
        }
    }

    private void CancelReceive(CancellationToken token)
    {
        if (token == _receiveToken && Interlocked.CompareExchange(ref _receiveState, Idle, Waiting) == Waiting)
        {
            CompleteReceive(0, token.IsCancellationRequested ? new OperationCanceledException(token) : new ObjectDisposedException(nameof(Socket)), inline: false);
        }
    }

    private void CancelSend(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _sendState, Idle, Waiting) == Waiting)
        {
            _send!.Finish(token.IsCancellationRequested ? new OperationCanceledException(token) : null);
        }
    }

    private void CompleteReceive(int read, Exception? error, bool inline)
    {
        _receiveCancellation.Unregister();
        _buffer = default;
        _receive.RunContinuationsAsynchronously = !inline;
        if (error is null)
        {
            _receive.SetResult(read);
        }
        else
        {
            _receive.SetException(error);
        }
    }

    /// <summary>A receive that does not wait; a zero-byte one reports whether bytes are there without taking them.</summary>
    private int TryReceive(Span<byte> buffer, out int errno)
    {
        if (buffer.IsEmpty)
        {
            var peeked = Native.Peek(_socket.SafeHandle, out errno);
            return peeked < 0 ? peeked : 0;
        }
        return Native.Receive(_socket.SafeHandle, buffer, out errno);
    }

    private static IOException Failure(int errno) =>
        new("Unable to read data from the transport connection.", Native.ToException(errno));

    int IValueTaskSource<int>.GetResult(short token) => _receive.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _receive.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _receive.OnCompleted(continuation, state, token, flags);

    /// <summary>The send side's wait, made only when a connection first fills its socket's buffer.</summary>
    private sealed class SendWait : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        private CancellationTokenRegistration _cancellation;

        public ValueTask Prepare(ReactorWaits owner, CancellationToken cancellationToken)
        {
            _core.Reset();
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((ReactorWaits)state!).CancelSend(token), owner);
            return new ValueTask(this, _core.Version);
        }

        /// <summary>Ends the wait; the sender then tries again and meets whatever the socket says.</summary>
        public void Finish(Exception? error)
        {
            _cancellation.Unregister();
            if (error is null)
            {
                _core.SetResult(true);
            }
            else
            {
                _core.SetException(error);
            }
        }

        public void GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
