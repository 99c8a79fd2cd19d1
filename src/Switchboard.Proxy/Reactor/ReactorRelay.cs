using System.Buffers;
using System.Net.Sockets;
using Switchboard.Proxy.Listening;
using Switchboard.Reactor;
using Switchboard.Reactor.Kernel;

namespace Switchboard.Proxy.Reactor;

/// <summary>
/// Copies bytes both ways between a client and its backend on the reactor's thread until either side closes. An idle
/// tunnel holds this object and its two sockets, nothing else: no task per direction, no pending receive, no buffer.
/// </summary>
/// <remarks>
/// Both sockets are registered edge-triggered for reading and writing. A read goes into the reactor's one buffer and
/// is sent on at once; only what the destination does not take is copied into a pooled buffer, and that direction
/// stops reading until it has gone (back-pressure). After one side closes cleanly its end is passed on as a half-close
/// and the other direction may finish (a WebSocket close handshake) for the close grace; a failure ends both at once.
/// With the kernel relay (<see cref="KernelRelay"/>) the kernel moves the bytes and this only watches for each side's
/// end: once the kernel has passed on a closed side's last byte, the end is passed on as above. A side still sending
/// then leaves the kernel's relaying first, and once the kernel has passed on what it took from it, this relays the
/// rest as it does without the kernel.
/// </remarks>
internal sealed class ReactorRelay : IReactorTarget
{
    private const int ClientTag = 0;
    private const int UpstreamTag = 1;
    /// <summary>A posted event (a bit epoll never reports): finish now, for a close from another thread or the close grace running out.</summary>
    private const uint FinishEvent = 1u << 28;
    /// <summary>Marks a read posted by the relay itself (another turn), which no edge told about: read to the end.</summary>
    private const uint Posted = 1u << 27;
    /// <summary>A posted event: look again whether the kernel has passed on all a closed side sent.</summary>
    private const uint DrainEvent = 1u << 26;
    /// <summary>Reads per turn before a busy direction lets other tunnels have the thread.</summary>
    private const int ReadsPerTurn = 16;
    /// <summary>The longest wait between looks at a closed side's last bytes still in the kernel's hands.</summary>
    private static readonly TimeSpan LongestDrainWait = TimeSpan.FromMilliseconds(100);

    private readonly TaskCompletionSource<bool> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SocketReactor _reactor;
    private readonly ClientConnection _connection;
    private readonly Socket _upstream;
    private readonly TimeProvider _time;
    private readonly TimeSpan _closeGrace;
    private readonly Action<long, long> _countBytes;
    private readonly KernelSplice? _splice;
    private Flow _toUpstream;
    private Flow _toClient;
    private ulong _clientData;
    private ulong _upstreamData;
    private ITimer? _grace;
    private int _finished;
    /// <summary>Kernel relay: one side was detached, and its direction waits for the kernel's last bytes before the proxy relays it.</summary>
    private bool _handingBack;
    private bool _handBackToUpstream;
    private bool _forgotten;
    /// <summary>Kernel relay: the proxy relays what is left of the tunnel itself.</summary>
    private bool _handedBack;

    /// <summary>One direction: what its destination has not taken yet, and whether its source has ended.</summary>
    private struct Flow
    {
        public byte[]? Pending;
        public int Offset;
        public int Count;
        public bool Ended;
        /// <summary>Kernel relay: the source's FIN has been read, and its last bytes may still be on their way.</summary>
        public bool SourceClosed;
        /// <summary>Kernel relay: the next look at those bytes.</summary>
        public ITimer? Drain;
        public int DrainWaits;
    }

    private ReactorRelay(SocketReactor reactor, ClientConnection connection, Socket upstream, TimeProvider time, TimeSpan closeGrace, Action<long, long> countBytes, KernelSplice? splice)
    {
        _splice = splice;
        _reactor = reactor;
        _connection = connection;
        _upstream = upstream;
        _time = time;
        _closeGrace = closeGrace;
        _countBytes = countBytes;
    }

    /// <summary>
    /// Relays until both directions have ended, one has failed, or the connection is closed from outside; then closes
    /// the connection. Returns true when the backend broke the tunnel first (a reset or error reading from or writing
    /// to it before either side closed), for passive health. With <paramref name="splice"/> the kernel already relays
    /// the pair.
    /// </summary>
    private static Task<bool> RelayAsync(SocketReactor reactor, ClientConnection connection, Socket upstream, TimeProvider time, TimeSpan closeGrace, Action<long, long> countBytes, KernelSplice? splice)
    {
        var relay = new ReactorRelay(reactor, connection, upstream, time, closeGrace, countBytes, splice);
        relay._clientData = reactor.Register(relay, ClientTag);
        relay._upstreamData = reactor.Register(relay, UpstreamTag);
        connection.Attach(relay);
        // Spliced, only a side's end matters here: asking for no EPOLLIN keeps each relayed byte from waking the reactor.
        var events = splice is null
            ? Native.EpollIn | Native.EpollOut | Native.EpollRdHup | Native.EpollEdgeTriggered
            : Native.EpollRdHup | Native.EpollEdgeTriggered;
        if (!reactor.Add(connection.Client, events, relay._clientData) || !reactor.Add(upstream, events, relay._upstreamData))
        {
            relay.Finish();
        }
        // No first look needed: adding a socket that already has bytes (or a close) to read reports it at once.
        return relay._done.Task;
    }

    /// <summary>
    /// Relays an established tunnel as <see cref="RelayAsync"/> does, handing its bytes to the kernel when the runtime
    /// has a kernel relay and the pair suits it.
    /// <paramref name="readFromClient"/> and <paramref name="readFromUpstream"/> are the bytes the handshake read from
    /// each socket; all it wrote has been written.
    /// </summary>
    public static Task<bool> RunAsync(ProxyRuntime runtime, ClientConnection connection, Socket upstream, long readFromClient, long readFromUpstream)
    {
        KernelSplice? splice = null;
        if (runtime.Kernel is { } kernel)
        {
            string? declined = null;
            try
            {
                splice = KernelSplice.TryStart(kernel, connection.Client, upstream, readFromClient, readFromUpstream, out declined);
            }
            catch (BpfException e)
            {
                ProxyLog.KernelRelayHalfJoined(runtime.Logger, connection.Remote.ToString(), e.Message);
                connection.MarkEnd(ClientConnection.EndedFromClient);
                connection.Close();
                return Task.FromResult(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // A side left before the hand-over: the relay sees the end at once.
            }
            if (splice is not null)
            {
                runtime.Metrics.KernelRelayed();
            }
            else if (declined is not null)
            {
                runtime.Metrics.KernelDeclined();
                ProxyLog.KernelRelayDeclined(runtime.Logger, connection.Remote.ToString(), declined);
            }
        }
        return RelayAsync(connection.Reactor!, connection, upstream, runtime.Time, runtime.Settings.Options.CloseGrace, runtime.Metrics.Bytes, splice);
    }

    public void OnEvents(uint events, int tag)
    {
        if (Volatile.Read(ref _finished) == 1)
        {
            return;
        }
        if ((events & FinishEvent) != 0)
        {
            Finish();
            return;
        }
        var fromClient = tag == ClientTag;
        if (_splice is not null && !_handedBack)
        {
            if ((events & (Native.EpollRdHup | Native.EpollHup | Native.EpollErr | DrainEvent)) == 0)
            {
                return;
            }
            if (_handingBack)
            {
                // Only the timer moves a hand-back on, so that the first look waits a moment (KernelRelay.Forget).
                if ((events & DrainEvent) != 0)
                {
                    HandBack();
                }
            }
            else
            {
                WatchEnd(toUpstream: fromClient);
            }
            return;
        }
        if ((events & Native.EpollOut) != 0)
        {
            // This socket can take more: the direction into it may have bytes waiting.
            Flush(toUpstream: !fromClient);
        }
        if ((events & (Native.EpollIn | Native.EpollRdHup | Native.EpollHup | Native.EpollErr)) != 0)
        {
            Pump(toUpstream: fromClient, stopAtShortRead: (events & (Native.EpollRdHup | Native.EpollHup | Native.EpollErr | Posted)) == 0);
        }
    }

    /// <summary>Ends the relay from any thread.</summary>
    public void Abort() => _reactor.Post(this, FinishEvent, 0);

    /// <summary>For the idle sweep: marks the connection active when the kernel relay moved bytes since the last call.</summary>
    public void NoteKernelTraffic(long now)
    {
        try
        {
            if (_splice is not null && Volatile.Read(ref _finished) == 0 && _splice.MovedSinceLastLook(_connection.Client, _upstream))
            {
                _connection.Touch(now);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Closing: the relay ends by itself.
        }
    }

    private ref Flow FlowOf(bool toUpstream) => ref toUpstream ? ref _toUpstream : ref _toClient;

    private void Pump(bool toUpstream, bool stopAtShortRead)
    {
        ref var flow = ref FlowOf(toUpstream);
        if (flow.Pending is not null || flow.Ended || Volatile.Read(ref _finished) == 1)
        {
            return;
        }
        var source = toUpstream ? _connection.Client : _upstream;
        var destination = toUpstream ? _upstream : _connection.Client;
        var buffer = _reactor.Buffer;
        var brokenPipe = false;
        try
        {
            for (var reads = 0; reads < ReadsPerTurn; reads++)
            {
                var read = Native.Receive(source.SafeHandle, buffer, out var errno);
                if (read < 0)
                {
                    if (errno == Native.EPipe && _splice is not null && !brokenPipe)
                    {
                        // Handed back from the kernel: its report of a FIN it passed on (see WatchEnd), not a failure.
                        brokenPipe = true;
                        continue;
                    }
                    if (errno != Native.EAgain)
                    {
                        Fail(sourceFailed: true, toUpstream);
                    }
                    return;
                }
                if (read == 0)
                {
                    // Either side may close first: in a WebSocket close handshake the server (the backend) does.
                    flow.Ended = true;
                    _connection.MarkEnd(ClientConnection.EndedCleanly);
                    ShutdownSend(destination);
                    DirectionEnded();
                    return;
                }
                _connection.Touch(_time.GetTimestamp());
                _countBytes(toUpstream ? read : 0, toUpstream ? 0 : read);
                var sent = Native.Send(destination.SafeHandle, buffer.AsSpan(0, read), out errno);
                if (sent < 0)
                {
                    if (errno != Native.EAgain)
                    {
                        Fail(sourceFailed: false, toUpstream);
                        return;
                    }
                    sent = 0;
                }
                // Handed back from the kernel: what the proxy moves is not the kernel's to count.
                _splice?.MovedByProxy(toUpstream, read, sent);
                if (sent < read)
                {
                    // The destination is full: keep the rest, stop reading, and go on when it says it can take more.
                    flow.Count = read - sent;
                    flow.Offset = 0;
                    flow.Pending = ArrayPool<byte>.Shared.Rent(flow.Count);
                    buffer.AsSpan(sent, flow.Count).CopyTo(flow.Pending);
                    return;
                }
                if (read < buffer.Length && stopAtShortRead)
                {
                    // A short read emptied the socket, and bytes that come later raise a new edge: no read to hear
                    // EAGAIN. Not when the peer has closed too: its FIN came with the same edge and is still unread.
                    return;
                }
            }
            // Still more to read, but edge-triggered epoll will not say so again: take another turn after the others.
            _reactor.Post(this, Native.EpollIn | Posted, toUpstream ? ClientTag : UpstreamTag);
        }
        catch (ObjectDisposedException)
        {
            Finish(); // closed from outside
        }
    }

    /// <summary>
    /// Kernel relay: a side of this direction's source has ended or failed. Reads its FIN (forwarding whatever bytes
    /// the kernel left to the proxy), then passes the end on once the kernel has put the last byte into the
    /// destination, looking again on a timer until it has.
    /// </summary>
    private void WatchEnd(bool toUpstream)
    {
        ref var flow = ref FlowOf(toUpstream);
        if (flow.Ended || Volatile.Read(ref _finished) == 1)
        {
            return;
        }
        var source = toUpstream ? _connection.Client : _upstream;
        var destination = toUpstream ? _upstream : _connection.Client;
        var brokenPipes = 0;
        try
        {
            while (!flow.SourceClosed)
            {
                var read = Native.Receive(source.SafeHandle, _reactor.Buffer, out var errno);
                if (read == 0)
                {
                    flow.SourceClosed = true;
                }
                else if (read > 0)
                {
                    // The kernel keeps bytes for the proxy only when the partner was not in its map: pass them on here.
                    var sent = Native.Send(destination.SafeHandle, _reactor.Buffer.AsSpan(0, read), out errno);
                    _splice!.MovedByProxy(toUpstream, read, Math.Max(sent, 0));
                    _countBytes(toUpstream ? read : 0, toUpstream ? 0 : read);
                    if (sent != read)
                    {
                        Fail(sourceFailed: false, toUpstream);
                        return;
                    }
                }
                else if (errno == Native.EPipe && brokenPipes++ == 0)
                {
                    // The kernel's own doing, not a failure: when it passes the other side's FIN on (a redirect of no
                    // bytes) it reports a broken pipe on this socket. Reading it cleared it, and a FIN may have come
                    // with the same edge: read again, since edge-triggered epoll will not say so twice.
                }
                else if (errno is Native.EAgain or Native.EPipe)
                {
                    return; // not the end yet
                }
                else
                {
                    Fail(sourceFailed: true, toUpstream);
                    return;
                }
            }
            if (_splice!.Unrelayed(toUpstream, _connection.Client, _upstream) > 0)
            {
                WaitForKernel(ref flow, toUpstream);
                return;
            }
        }
        catch (SocketException)
        {
            Fail(sourceFailed: false, toUpstream);
            return;
        }
        catch (ObjectDisposedException)
        {
            Finish(); // closed from outside
            return;
        }
        flow.Ended = true;
        _connection.MarkEnd(ClientConnection.EndedCleanly);
        if (!FlowOf(!toUpstream).SourceClosed)
        {
            // The destination goes on sending: take it out of the kernel's relaying before the half-close
            // (KernelRelay.Detach says why), and relay the rest of its bytes here once the kernel has passed on those
            // it took.
            if (!_splice!.Detach(destination))
            {
                Fail(sourceFailed: false, toUpstream);
                return;
            }
            _handingBack = true;
            _handBackToUpstream = !toUpstream;
        }
        ShutdownSend(destination);
        DirectionEnded();
        if (_handingBack)
        {
            // Not at once: KernelRelay.Forget says why.
            WaitForKernel(ref FlowOf(!toUpstream), !toUpstream);
        }
    }

    /// <summary>
    /// Kernel relay, a side detached after the other ended: once the kernel has put every byte it took from that side
    /// into the destination, the proxy relays the rest of the tunnel as it does without the kernel (Pump, Flush),
    /// looking again on a timer until then.
    /// </summary>
    private void HandBack()
    {
        if (!_handingBack || Volatile.Read(ref _finished) == 1)
        {
            return;
        }
        var toUpstream = _handBackToUpstream;
        ref var flow = ref FlowOf(toUpstream);
        if (!_forgotten)
        {
            // The source of this direction was detached; its partner is this direction's destination.
            if (!_splice!.Forget(partner: toUpstream ? _upstream : _connection.Client))
            {
                Fail(sourceFailed: false, toUpstream);
                return;
            }
            _forgotten = true;
        }
        try
        {
            if (_splice!.KernelPending(toUpstream, _connection.Client, _upstream) > 0)
            {
                WaitForKernel(ref flow, toUpstream);
                return;
            }
        }
        catch (SocketException)
        {
            Fail(sourceFailed: true, toUpstream);
            return;
        }
        catch (ObjectDisposedException)
        {
            Finish(); // closed from outside
            return;
        }
        _handingBack = false;
        _handedBack = true;
        const uint events = Native.EpollIn | Native.EpollOut | Native.EpollRdHup | Native.EpollEdgeTriggered;
        if (!_reactor.Modify(_connection.Client, events, _clientData) || !_reactor.Modify(_upstream, events, _upstreamData))
        {
            Finish();
            return;
        }
        // No edge told of what waits already: read to the end.
        Pump(toUpstream, stopAtShortRead: false);
    }

    /// <summary>The kernel hands redirected bytes to the destination from a worker: look again in a moment.</summary>
    private void WaitForKernel(ref Flow flow, bool toUpstream)
    {
        flow.Drain?.Dispose();
        var wait = TimeSpan.FromMilliseconds(Math.Min(LongestDrainWait.TotalMilliseconds, 1 << Math.Min(flow.DrainWaits++, 10)));
        flow.Drain = _time.CreateTimer(toUpstream ? PostClientDrain : PostUpstreamDrain, this, wait, Timeout.InfiniteTimeSpan);
    }

    private static void PostClientDrain(object? state) => ((ReactorRelay)state!)._reactor.Post((ReactorRelay)state, DrainEvent, ClientTag);

    private static void PostUpstreamDrain(object? state) => ((ReactorRelay)state!)._reactor.Post((ReactorRelay)state, DrainEvent, UpstreamTag);

    private void Flush(bool toUpstream)
    {
        ref var flow = ref FlowOf(toUpstream);
        if (flow.Pending is null)
        {
            return;
        }
        var destination = toUpstream ? _upstream : _connection.Client;
        try
        {
            var sent = Native.Send(destination.SafeHandle, flow.Pending.AsSpan(flow.Offset, flow.Count), out var errno);
            if (sent < 0)
            {
                if (errno != Native.EAgain)
                {
                    Fail(sourceFailed: false, toUpstream);
                }
                return;
            }
            _splice?.MovedByProxy(toUpstream, 0, sent);
            flow.Offset += sent;
            flow.Count -= sent;
            if (flow.Count > 0)
            {
                return;
            }
            ArrayPool<byte>.Shared.Return(flow.Pending);
            flow.Pending = null;
        }
        catch (ObjectDisposedException)
        {
            Finish();
            return;
        }
        // Reading stopped while this waited, and the edges that came meanwhile are gone: read now, to the end.
        Pump(toUpstream, stopAtShortRead: false);
    }

    private void DirectionEnded()
    {
        if (_toUpstream.Ended && _toClient.Ended)
        {
            Finish();
        }
        else if (_grace is null && _closeGrace > TimeSpan.Zero)
        {
            // The other direction may still be finishing (a WebSocket close handshake), but not for ever.
            _grace = _time.CreateTimer(static state => ((ReactorRelay)state!).Abort(), this, _closeGrace, Timeout.InfiniteTimeSpan);
        }
        else if (_grace is null)
        {
            Finish();
        }
    }

    private void Fail(bool sourceFailed, bool toUpstream)
    {
        // Which side failed: the source of this direction, or its destination.
        var clientFailed = sourceFailed == toUpstream;
        _connection.MarkEnd(clientFailed ? ClientConnection.EndedFromClient : ClientConnection.EndedFromBackend);
        Finish();
    }

    private void Finish()
    {
        if (Interlocked.Exchange(ref _finished, 1) == 1)
        {
            return;
        }
        _grace?.Dispose();
        _toUpstream.Drain?.Dispose();
        _toClient.Drain?.Dispose();
        CountKernelBytes();
        _reactor.Remove(_connection.Client);
        _reactor.Remove(_upstream);
        _reactor.Unregister(_clientData);
        _reactor.Unregister(_upstreamData);
        ReturnPending(ref _toUpstream);
        ReturnPending(ref _toClient);
        _connection.Close();
        // Which side ended first is decided where the end was seen.
        _done.TrySetResult(_connection.FirstEnd == ClientConnection.EndedFromBackend);
    }

    private void CountKernelBytes()
    {
        if (_splice is null)
        {
            return;
        }
        try
        {
            var (toUpstream, toClient) = _splice.KernelMoved(_connection.Client, _upstream, upstreamEnded: _toUpstream.Ended, clientEnded: _toClient.Ended);
            _countBytes(Math.Max(0, toUpstream), Math.Max(0, toClient));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Closed from outside before the count: the bytes go uncounted.
        }
    }

    private static void ReturnPending(ref Flow flow)
    {
        if (flow.Pending is not null)
        {
            ArrayPool<byte>.Shared.Return(flow.Pending);
            flow.Pending = null;
        }
    }

    private static void ShutdownSend(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already gone: nothing to tell it.
        }
    }
}
