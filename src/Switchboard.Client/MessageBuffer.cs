using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Switchboard.Client;

/// <summary>
/// Messages received but not yet read by the application. When it holds <c>capacity</c> messages the receive
/// loop waits, so the socket stops being read and the node sees the back-pressure; except while a command awaits
/// its reply, because that reply sits behind the messages in the socket and the application may be waiting
/// for it before it reads again (a handler that sends commands would otherwise deadlock).
/// </summary>
internal sealed class MessageBuffer(int capacity)
{
    private readonly Channel<SwitchboardMessage> _channel = Channel.CreateUnbounded<SwitchboardMessage>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private TaskCompletionSource _room = NewSignal();
    private int _count;
    private volatile bool _dropped;

    /// <summary>
    /// Adds a message, then waits while the buffer is full and no reply is awaited. The wait ends without an error when
    /// <paramref name="connectionAborted"/> is cancelled: the message is kept, and the connection's end can be seen.
    /// </summary>
    public async ValueTask WriteAsync(SwitchboardMessage message, Func<bool> replyAwaited, CancellationToken connectionAborted, CancellationToken cancellationToken)
    {
        if (_dropped || !_channel.Writer.TryWrite(message))
        {
            return;
        }
        Interlocked.Increment(ref _count);
        if (!MustWait(replyAwaited))
        {
            return;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(connectionAborted, cancellationToken);
        try
        {
            while (MustWait(replyAwaited))
            {
                // Take the signal before the second look, so a wake-up between the look and the await is not lost.
                var room = Volatile.Read(ref _room).Task;
                if (!MustWait(replyAwaited))
                {
                    return;
                }
                await room.WaitAsync(stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (connectionAborted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // The connection is being torn down (dropped, a failed re-join, a close that timed out): stop holding its
            // receive loop, which then sees the end instead of keeping the connection and its commands hanging.
        }
    }

    /// <summary>Wakes a waiting writer to look again (a command started waiting for its reply).</summary>
    public void Pulse() => Interlocked.Exchange(ref _room, NewSignal()).TrySetResult();

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>
    /// Takes the next message, unless <see cref="DropUnread"/> has been called: then it empties the buffer and returns
    /// <see langword="false"/>, also for a message it took before it saw the drop. A call that had already looked
    /// when the drop came still returns its message: at most one, handed out just after the drop.
    /// </summary>
    public bool TryRead(out SwitchboardMessage message)
    {
        if (!_channel.Reader.TryRead(out message!))
        {
            return false;
        }
        // Looked at after the take, so a message taken before the drop was seen is dropped too. Not a lock: a reader past
        // this check when the flag is set still hands its one message out.
        if (_dropped)
        {
            DrainUnread();
            message = null!;
            return false;
        }
        if (Interlocked.Decrement(ref _count) == capacity - 1)
        {
            Pulse();
        }
        return true;
    }

    public async IAsyncEnumerable<SwitchboardMessage> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (TryRead(out var message))
            {
                yield return message;
            }
        }
    }

    public bool TryComplete(Exception? error = null) => _channel.Writer.TryComplete(error);

    /// <summary>
    /// Drops every message not yet read, and every one written from now on (the client is being disposed), except at
    /// most the one a reader was already handing out (<see cref="TryRead"/> had looked at the flag). Only sets the
    /// flag: the channel has a single reader, so the reader empties it, not the disposing thread; until a reader looks,
    /// the dropped messages stay referenced by the buffer.
    /// </summary>
    public void DropUnread() => _dropped = true;

    private void DrainUnread()
    {
        while (_channel.Reader.TryRead(out _))
        {
        }
    }

    private bool MustWait(Func<bool> replyAwaited) => Volatile.Read(ref _count) >= capacity && !replyAwaited();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
