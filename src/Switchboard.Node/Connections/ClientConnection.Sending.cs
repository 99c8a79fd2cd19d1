using System.Buffers;
using System.Net.WebSockets;
using Switchboard.Protocol;

namespace Switchboard.Node.Connections;

/// <summary>
/// The send path. An idle connection holds nothing for it: the queue is created by the first frame and dropped when
/// it drains, and the send task that drains it starts with the first frame and ends with the last, so no channel and
/// no parked send loop exist per connection while nothing is sent. At most one send task runs at a time, and it takes
/// frames in queue order, which is seq order.
/// </summary>
public sealed partial class ClientConnection
{
    // How many frames one socket write gathers at most: a batch's latency and buffer stay bounded.
    private const int MaxGatheredFrames = 64;

    // Both guarded by _enqueueLock. Null while idle.
    private Queue<OutboundFrame>? _outbox;
    // Frames a resume queued at once (its welcome, reply and replayed messages) that the queue's capacity does not
    // count until they have left: the client has had no chance to read them, so they do not make it a slow consumer.
    // They are at the head of the queue, so each frame taken off it uses one up.
    private int _resumeAllowance;
    // The running send task. Once a close was requested it is the one that sends the close frame, and stays set.
    private Task? _sender;
    // With a write delay: when the last socket write ended, and whether the queue waits in the delay's line.
    private long _lastWrite = long.MinValue / 2; // WriteDelay.Now's milliseconds
    private bool _deferred;
    // Welcomes, replies and errors in the queue: while there are any, the queue is not held back.
    private int _urgentFrames;
    // Set while the node makes the connection routable: what is queued meanwhile (the welcome) waits for it.
    private bool _holding;

    /// <summary>
    /// Holds every frame queued from now on until <see cref="StopHolding"/>: the node queues the welcome before the
    /// connection is routable (so the welcome is its first frame) and lets it leave only once it is (so a message sent
    /// right after the welcome finds the connection). A close request is not held.
    /// </summary>
    internal void HoldUntilRoutable()
    {
        lock (_enqueueLock)
        {
            _holding = true;
        }
    }

    /// <summary>Lets the frames held by <see cref="HoldUntilRoutable"/> go, in queue order.</summary>
    internal void StopHolding()
    {
        lock (_enqueueLock)
        {
            _holding = false;
            if (_outbox is { Count: > 0 })
            {
                StartOrDefer(urgent: _urgentFrames > 0);
            }
        }
    }

    /// <summary>Frames waiting to be sent, for tests.</summary>
    internal int QueuedFrames
    {
        get
        {
            lock (_enqueueLock)
            {
                return _outbox?.Count ?? 0;
            }
        }
    }

    /// <summary>True while a send task runs, for tests.</summary>
    internal bool IsSending
    {
        get
        {
            lock (_enqueueLock)
            {
                return _sender is not null;
            }
        }
    }

    /// <summary>Queues a frame; called under <see cref="_enqueueLock"/>. False when the queue overflowed (the connection is then closed with 3008) or the connection is closing.</summary>
    private bool Write(OutboundFrame frame)
    {
        if (Volatile.Read(ref _close) is not null)
        {
            return false;
        }
        var outbox = _outbox ??= new Queue<OutboundFrame>();
        if (outbox.Count >= _options.SendQueueCapacity + _resumeAllowance)
        {
            RequestClose(CloseReason.SlowConsumer, (WebSocketCloseStatus)CloseCodes.SlowConsumer, "send queue overflow: the client reads too slowly", flush: false);
            return false;
        }
        outbox.Enqueue(frame);
        var urgent = frame.Message is null;
        if (urgent)
        {
            _urgentFrames++;
        }
        StartOrDefer(urgent);
        return true;
    }

    /// <summary>
    /// Starts the send task, or with a write delay and a recent write, has the delay start it; called under
    /// <see cref="_enqueueLock"/>. An <paramref name="urgent"/> frame (a welcome, reply or error: someone waits for it)
    /// starts it at once, and takes the messages queued before it along.
    /// </summary>
    private void StartOrDefer(bool urgent)
    {
        if (_sender is not null || _holding || (_deferred && !urgent))
        {
            return;
        }
        if (!urgent && _writeDelay is { } delay && WriteDelay.Now - _lastWrite < delay.Milliseconds && delay.Schedule(this, _lastWrite + delay.Milliseconds))
        {
            _deferred = true;
            return;
        }
        EnsureSender();
    }

    /// <summary>
    /// After a socket write, with a write delay and gathered writes: ends the send task and has the delay send what is
    /// queued, so that a sender never chases a busy producer one frame per write. False when the task must go on: a
    /// close was requested, a full batch or a welcome, reply or error waits, or the delay has stopped.
    /// </summary>
    private bool HoldTheRest()
    {
        lock (_enqueueLock)
        {
            if (Volatile.Read(ref _close) is not null)
            {
                return false;
            }
            _lastWrite = WriteDelay.Now;
            if (_outbox is { Count: >= MaxGatheredFrames } || _urgentFrames > 0)
            {
                return false;
            }
            if (_outbox is { Count: > 0 })
            {
                if (!_writeDelay!.Schedule(this, _lastWrite + _writeDelay.Milliseconds))
                {
                    return false;
                }
                _deferred = true;
            }
            else
            {
                _outbox = null;
                _resumeAllowance = 0;
            }
            _sender = null;
            return true;
        }
    }

    /// <summary>The write delay has passed: what was queued meanwhile goes out, in one write.</summary>
    internal void WriteDeferred()
    {
        lock (_enqueueLock)
        {
            _deferred = false;
            if (_outbox is { Count: > 0 } && !_holding)
            {
                EnsureSender();
            }
        }
    }

    /// <summary>Starts the send task unless one runs; called under <see cref="_enqueueLock"/>.</summary>
    private void EnsureSender() => _sender ??= SendQueuedAsync();

    private async Task SendQueuedAsync()
    {
        // Producers call in under the enqueue lock (a fan-out may call thousands of connections in a row): the
        // sending itself happens on the thread pool, never inline in the producer nor on its scheduler.
        await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        try
        {
            var corked = false;
            var gathered = 0;
            while (true)
            {
                OutboundFrame frame;
                bool more;
                lock (_enqueueLock)
                {
                    var close = Volatile.Read(ref _close);
                    if (close is { Flush: false } || _outbox is null || !_outbox.TryDequeue(out frame))
                    {
                        // Drained. Decided under the lock, so a frame queued from here on starts a new send task.
                        _outbox = null;
                        _resumeAllowance = 0;
                        _urgentFrames = 0;
                        if (close is null)
                        {
                            _sender = null;
                            if (_writeDelay is not null)
                            {
                                _lastWrite = WriteDelay.Now;
                            }
                            return;
                        }
                        break;
                    }
                    more = _outbox.Count > 0;
                    if (_resumeAllowance > 0)
                    {
                        _resumeAllowance--;
                    }
                    if (frame.Message is null)
                    {
                        _urgentFrames--;
                    }
                }
                // With more frames waiting, they go out together: one socket write for the batch, not one per frame.
                if (more && !corked && _cork is not null)
                {
                    _cork.Cork();
                    corked = true;
                }
                await SendAsync(frame).ConfigureAwait(false);
                var wrote = !corked;
                if (corked && (!more || ++gathered >= MaxGatheredFrames))
                {
                    await _cork!.UncorkAsync().ConfigureAwait(false);
                    corked = false;
                    gathered = 0;
                    wrote = true;
                }
                if (wrote && _writeDelay is not null && _cork is not null && HoldTheRest())
                {
                    return;
                }
            }
            if (corked)
            {
                // A close without flush can stop a batch half way: what was gathered goes out, then the close frame.
                await _cork!.UncorkAsync().ConfigureAwait(false);
            }
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var close = Volatile.Read(ref _close)!;
                await _socket.CloseOutputAsync(close.Status, close.Description, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The socket was aborted (peer gone, or the abort timer fired). Queued frames die with it.
            lock (_enqueueLock)
            {
                _outbox = null;
                _resumeAllowance = 0;
                _urgentFrames = 0;
                // A send failed before any close was requested: the receive loop will end and request it; the close
                // then needs a send task again, and it finds the socket gone at once.
                if (Volatile.Read(ref _close) is null)
                {
                    _sender = null;
                }
            }
        }
    }

    private async ValueTask SendAsync(OutboundFrame frame)
    {
        if (frame.Message is null)
        {
            await _socket.SendAsync(frame.Frame.AsMemory(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            _owner.OnFrameSent(isMessage: false);
            return;
        }
        var prefix = frame.Message.FramePrefix;
        var buffer = ArrayPool<byte>.Shared.Rent(prefix.Length + ServerFrames.MessageEndMaxLength);
        try
        {
            prefix.CopyTo(buffer, 0);
            var length = prefix.Length + ServerFrames.WriteMessageEnd(buffer.AsSpan(prefix.Length), frame.Seq, MessageIds ? frame.Message.Id : null);
            await _socket.SendAsync(buffer.AsMemory(0, length), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _owner.OnFrameSent(isMessage: true);
    }

}
