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
/// Each direction's state is a <see cref="WaitState"/> word. Whoever ends a wait (the reactor, a cancellation, the
/// close) finishes it, so every wait finishes exactly once.
/// </remarks>
internal sealed class ReactorWaits : IReactorTarget, IValueTaskSource<int>
{
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
    private int _receiveWait;
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
    /// <exception cref="InvalidOperationException">Another receive is still waiting.</exception>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        while (true)
        {
            if (TryTake(buffer.Span, out var read, out var error))
            {
                return error is null ? ValueTask.FromResult(read) : ValueTask.FromException<int>(error);
            }
            if (!TryIdle(ref _receiveState, out var idle))
            {
                continue;
            }
            var waiting = WaitState.NextWait(idle);
            _receive.Reset();
            _buffer = buffer;
            _receiveToken = cancellationToken;
            _receiveWait = waiting;
            // Registered before the wait is published, and for this wait's number only: a late callback finds nothing.
            _receiveCancellation = Register(cancellationToken, waiting, receive: true);
            if (Interlocked.CompareExchange(ref _receiveState, waiting, idle) != idle)
            {
                // An edge came since the try: try again.
                _receiveCancellation.Unregister();
                continue;
            }
            if (cancellationToken.IsCancellationRequested || _closed)
            {
                CancelReceive(waiting, cancellationToken);
            }
            return new ValueTask<int>(this, _receive.Version);
        }
    }

    /// <summary>Completes when the socket can take more bytes (or has failed, or was closed).</summary>
    /// <exception cref="InvalidOperationException">Another send is still waiting.</exception>
    public ValueTask WritableAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!TryIdle(ref _sendState, out var idle))
        {
            // An edge came since the caller's try: it tries again.
            return ValueTask.CompletedTask;
        }
        var waiting = WaitState.NextWait(idle);
        var send = _send ??= new SendWait();
        var wait = send.Prepare(Register(cancellationToken, waiting, receive: false));
        if (Interlocked.CompareExchange(ref _sendState, waiting, idle) != idle)
        {
            // An edge came since the caller's try: it tries again.
            send.Finish(null);
        }
        else if (cancellationToken.IsCancellationRequested || _closed)
        {
            CancelSend(waiting, cancellationToken);
        }
        return wait;
    }

    /// <summary>Leaves the reactor and finishes the waits: a receive gets what the socket says now (0 once shut down).</summary>
    public void Close()
    {
        _closed = true;
        // Events the reactor fetched before this may still arrive: the state words let only one party end each wait.
        _reactor.Unregister(_data);
        if (WaitState.TryEndAny(ref _receiveState, out _))
        {
            FinishReceive(inline: false);
        }
        if (WaitState.TryEndAny(ref _sendState, out _))
        {
            _send!.Finish(null);
        }
    }

    /// <inheritdoc/>
    public void OnEvents(uint events, int tag)
    {
        if ((events & Readable) != 0 && WaitState.Signal(ref _receiveState))
        {
            _dispatcher.Enqueue(this);
        }
        if ((events & Writable) != 0 && WaitState.Signal(ref _sendState))
        {
            _send!.Finish(null);
        }
    }

    /// <summary>
    /// Runs where the receive left its wait (so nobody else touches it): takes the bytes, or waits on.
    /// <paramref name="inline"/>: the reader resumes on this thread (a dispatcher's work item); otherwise it is queued,
    /// since the caller (a dispose) may hold locks of its own.
    /// </summary>
    public void FinishReceive(bool inline = true)
    {
        while (true)
        {
            if (TryTake(_buffer.Span, out var read, out var error))
            {
                // Closed by this side while the wait was being finished (the shutdown's own edge can end it): the end
                // of the stream, as for a wait that the close itself ends.
                CompleteReceive(read, error is ObjectDisposedException && _closed ? null : error, inline);
                return;
            }
            // A spurious edge: the same wait goes on, unless another edge came since the try. Read before it is
            // published, since from then on another thread may end it.
            var waiting = _receiveWait;
            var token = _receiveToken;
            if (Interlocked.CompareExchange(ref _receiveState, waiting, WaitState.Idled(waiting)) != WaitState.Idled(waiting))
            {
                WaitState.TryConsumeReady(ref _receiveState);
                continue;
            }
            if (token.IsCancellationRequested || _closed)
            {
                CancelReceive(waiting, token);
            }
            return;
        }
    }

    /// <summary>
    /// Whether the direction is idle (<paramref name="idle"/> its word); false after taking an edge that came while
    /// nobody waited, to be tried again.
    /// </summary>
    private static bool TryIdle(ref int state, out int idle)
    {
        idle = Volatile.Read(ref state);
        switch (WaitState.Phase(idle))
        {
            case WaitState.Idle:
                return true;
            case WaitState.Ready:
                WaitState.TryConsumeReady(ref state);
                return false;
            default:
                throw new InvalidOperationException("A socket takes one receive and one send at a time.");
        }
    }

    private CancellationTokenRegistration Register(CancellationToken token, int waiting, bool receive) => token.CanBeCanceled
        ? token.UnsafeRegister(static (state, token) => ((CancelTarget)state!).Cancel(token), new CancelTarget(this, waiting, receive))
        : default;

    private void CancelReceive(int waiting, CancellationToken token)
    {
        if (WaitState.TryEnd(ref _receiveState, waiting))
        {
            CompleteReceive(0, token.IsCancellationRequested ? new OperationCanceledException(token) : new ObjectDisposedException(nameof(Socket)), inline: false);
        }
    }

    private void CancelSend(int waiting, CancellationToken token)
    {
        if (WaitState.TryEnd(ref _sendState, waiting))
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

    /// <summary>A send that does not wait: the bytes the socket took, or -1 with <paramref name="errno"/> set.</summary>
    public int TrySend(ReadOnlySpan<byte> bytes, out int errno) => Native.Send(_socket.SafeHandle, bytes, out errno);

    /// <summary>
    /// A receive that does not wait: true when it is over, with the bytes read (0 at the end of the stream) or the error
    /// that ended it; false when no bytes are there yet.
    /// </summary>
    private bool TryTake(Span<byte> buffer, out int read, out Exception? error)
    {
        error = null;
        int errno;
        try
        {
            read = TryReceive(buffer, out errno);
        }
        catch (ObjectDisposedException e)
        {
            (read, error) = (0, e);
            return true;
        }
        if (read >= 0)
        {
            return true;
        }
        read = 0;
        if (errno == Native.EAgain)
        {
            return false;
        }
        error = Failure(errno);
        return true;
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

    /// <summary>A cancellation's way back to the one wait it was registered for.</summary>
    private sealed record CancelTarget(ReactorWaits Owner, int Waiting, bool Receive)
    {
        public void Cancel(CancellationToken token)
        {
            if (Receive)
            {
                Owner.CancelReceive(Waiting, token);
            }
            else
            {
                Owner.CancelSend(Waiting, token);
            }
        }
    }

    /// <summary>The send side's wait, made only when a connection first fills its socket's buffer.</summary>
    private sealed class SendWait : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        private CancellationTokenRegistration _cancellation;

        public ValueTask Prepare(CancellationTokenRegistration cancellation)
        {
            _core.Reset();
            _cancellation = cancellation;
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
