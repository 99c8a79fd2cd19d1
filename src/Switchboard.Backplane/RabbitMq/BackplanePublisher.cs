using System.Buffers;
using System.Threading.Channels;
using RabbitMQ.Client;
using Switchboard.Protocol;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// The one loop that publishes to the broker. Frames for the same destination (a node, a group, everyone) are
/// coalesced into one AMQP message, sent when it reaches <see cref="RabbitMqBackplaneOptions.CoalesceMaxBytes"/>
/// or when <see cref="RabbitMqBackplaneOptions.CoalesceDelay"/> passes without the batch filling; under load batches
/// fill before the timer, so the delay only costs latency when traffic is light. One loop means one publishing
/// channel and one order: frames from this process to one destination leave in the order they were queued.
/// </summary>
internal sealed class BackplanePublisher : IAsyncDisposable
{
    private const int PooledBuffers = 16;

    private readonly RabbitMqBackplaneOptions _options;
    private readonly string _controlExchange;
    private readonly BrokerLink _link;
    private readonly Action<long> _countUnroutable;
    private readonly Channel<Outgoing> _queue;
    private readonly Dictionary<(string Exchange, string Key), PendingBatch> _batches = new();
    private readonly Stack<ArrayBufferWriter<byte>> _buffers = new();
    private readonly PresenceMerger _presence = new();
    private readonly List<TaskCompletionSource> _flushed = [];
    // Presence bodies are written here and published from it: a node's periodic snapshot is a large body, which would
    // otherwise be a fresh large-object allocation every few seconds.
    private readonly ArrayBufferWriter<byte> _presenceBody = new(4096);
    // Null without coalescing or with a zero delay.
    private readonly PreciseDelay? _window;
    private readonly Task _loop;
    // The session of the last publish, whose confirms a flush waits for; and whether a message may have been lost since
    // the last flush (not published, or left unconfirmed on a session that was replaced): the next flushes fail.
    private BrokerSession? _publishedOn;
    private bool _lostSinceFlush;
    private long _framesPublished;
    private long _messagesPublished;

    public BackplanePublisher(RabbitMqBackplaneOptions options, RabbitMqNames names, BrokerLink link, Action<long> countUnroutable)
    {
        _options = options;
        _controlExchange = names.ControlExchange;
        _link = link;
        _countUnroutable = countUnroutable;
        _queue = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(options.PublishQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _window = options.Coalescing && options.CoalesceDelay > TimeSpan.Zero ? new PreciseDelay(options.CoalesceDelay) : null;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Frames handed to the broker.</summary>
    public long FramesPublished => Interlocked.Read(ref _framesPublished);

    /// <summary>AMQP messages handed to the broker (frames / messages = the coalescing factor).</summary>
    public long MessagesPublished => Interlocked.Read(ref _messagesPublished);

    /// <summary>Queues a frame; waits only when the queue is full (back-pressure onto the sender).</summary>
    public ValueTask EnqueueFrameAsync(string exchange, string key, bool mandatory, RoutedMessage message, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new Outgoing(exchange, key, mandatory, message, null, null, null), cancellationToken);

    /// <summary>Queues a control message for the control exchange.</summary>
    public ValueTask EnqueueControlAsync(string type, byte[] body, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new Outgoing(_controlExchange, string.Empty, false, null, type, body, null), cancellationToken);

    /// <summary>Queues a control message without waiting; false when the queue is full.</summary>
    public bool TryEnqueueControl(string type, byte[] body) =>
        _queue.Writer.TryWrite(new Outgoing(_controlExchange, string.Empty, false, null, type, body, null));

    /// <summary>Queues a message of its own (a request or an answer) for any exchange and key, published unbatched.</summary>
    public ValueTask EnqueueSingleAsync(string exchange, string key, bool mandatory, string type, byte[] body, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new Outgoing(exchange, key, mandatory, null, type, body, null), cancellationToken);

    /// <summary>
    /// Completes once the broker has confirmed everything queued before it; throws
    /// <see cref="BackplaneUnavailableException"/> when some of it could not be published (no broker connection) or the
    /// broker did not confirm it (refused, or the connection was lost first).
    /// </summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new Outgoing(string.Empty, string.Empty, false, null, null, null, null, flushed), cancellationToken).ConfigureAwait(false);
        try
        {
            await flushed.Task.WaitAsync(_options.ConfirmTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A broker that blocks publishers (a resource alarm) confirms nothing: say so rather than hold the sender.
            throw new BackplaneUnavailableException($"The broker did not confirm within {_options.ConfirmTimeout.TotalSeconds:0.#} s (Backplane:ConfirmTimeout).");
        }
    }

    /// <summary>Queues a presence delta for the control exchange (merged with its neighbours when coalescing).</summary>
    public ValueTask EnqueuePresenceAsync(PresenceDelta delta, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new Outgoing(_controlExchange, string.Empty, false, null, RabbitMqNames.PresenceType, null, delta), cancellationToken);

    /// <summary>Publishes what is queued (or counts it unroutable when disconnected) and stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        _window?.Dispose();
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            await DrainAsync(reader).ConfigureAwait(false);
            if (_options.Coalescing && (_batches.Count > 0 || !_presence.IsEmpty))
            {
                // One wait per window, not one wake-up per arriving frame: frames queued meanwhile join their batches.
                if (_window is not null)
                {
                    await _window.WaitAsync().ConfigureAwait(false);
                }
                await DrainAsync(reader).ConfigureAwait(false);
            }
            await FlushAllAsync().ConfigureAwait(false);
            CompleteFlushes();
        }
        CompleteFlushes();
    }

    /// <summary>
    /// Hands the <see cref="FlushAsync"/> calls read so far to the broker's confirms (what was queued before them has
    /// been published), or fails them when something queued since the last flush may have been lost.
    /// </summary>
    private void CompleteFlushes()
    {
        if (_flushed.Count == 0)
        {
            return;
        }
        foreach (var flushed in _flushed)
        {
            if (_lostSinceFlush)
            {
                flushed.TrySetException(new BackplaneUnavailableException("The broker was unreachable: a message queued before the flush may not have been published."));
            }
            else if (_publishedOn is { } session)
            {
                session.Confirms.WhenConfirmed(flushed);
            }
            else
            {
                flushed.TrySetResult();
            }
        }
        _flushed.Clear();
        _lostSinceFlush = false;
    }

    private async Task DrainAsync(ChannelReader<Outgoing> reader)
    {
        while (reader.TryRead(out var item))
        {
            await AddAsync(item).ConfigureAwait(false);
        }
    }

    private async Task AddAsync(Outgoing item)
    {
        if (item.Flushed is { } flushed)
        {
            // Handed to the confirms once this window's batches are published: everything queued before it is in them
            // or in earlier windows.
            _flushed.Add(flushed);
            return;
        }
        if (item.Message is { } message)
        {
            var key = (item.Exchange, item.Key);
            if (!_batches.TryGetValue(key, out var batch))
            {
                batch = new PendingBatch(_buffers.Count > 0 ? _buffers.Pop() : new ArrayBufferWriter<byte>(4096), item.Mandatory);
                _batches[key] = batch;
            }
            FrameBatch.Append(batch.Buffer, message);
            batch.Frames++;
            if (!_options.Coalescing || batch.Buffer.WrittenCount >= _options.CoalesceMaxBytes)
            {
                _batches.Remove(key);
                await PublishBatchAsync(item.Exchange, item.Key, batch).ConfigureAwait(false);
            }
            return;
        }
        if (item.Presence is { } delta && _options.Coalescing)
        {
            if (!_presence.CanMerge(delta))
            {
                await FlushPresenceAsync().ConfigureAwait(false);
            }
            if (_presence.CanMerge(delta))
            {
                _presence.Add(delta);
                return;
            }
        }
        // Control messages keep their order among themselves: pending presence goes out first.
        await FlushPresenceAsync().ConfigureAwait(false);
        var body = item.Body is { } given ? given : ControlMessages.Encode(item.Presence!, Reset(_presenceBody));
        await PublishAsync(item.Exchange, item.Key, item.Mandatory, item.Type!, body, frames: 0).ConfigureAwait(false);
    }

    private async Task FlushPresenceAsync()
    {
        if (!_presence.IsEmpty)
        {
            await PublishAsync(_controlExchange, string.Empty, false, RabbitMqNames.PresenceType, ControlMessages.Encode(_presence.Take(), Reset(_presenceBody)), frames: 0).ConfigureAwait(false);
        }
    }

    private async Task FlushAllAsync()
    {
        foreach (var ((exchange, key), batch) in _batches)
        {
            await PublishBatchAsync(exchange, key, batch).ConfigureAwait(false);
        }
        _batches.Clear();
        await FlushPresenceAsync().ConfigureAwait(false);
    }

    private static ArrayBufferWriter<byte> Reset(ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        return buffer;
    }

    private async Task PublishBatchAsync(string exchange, string key, PendingBatch batch)
    {
        await PublishAsync(exchange, key, batch.Mandatory, RabbitMqNames.FramesType, batch.Buffer.WrittenMemory, batch.Frames).ConfigureAwait(false);
        batch.Buffer.ResetWrittenCount();
        // Keep a few buffers for reuse, not one per group ever seen: thousands of groups must not pin memory.
        if (_buffers.Count < PooledBuffers && batch.Buffer.Capacity <= 4 * _options.CoalesceMaxBytes)
        {
            _buffers.Push(batch.Buffer);
        }
    }

    private async Task PublishAsync(string exchange, string key, bool mandatory, string type, ReadOnlyMemory<byte> body, int frames)
    {
        var session = _link.Current;
        if (session is null)
        {
            _countUnroutable(frames);
            _lostSinceFlush = true;
            return;
        }
        try
        {
            var properties = new BasicProperties { AppId = RabbitMqNames.AppId, Type = type, DeliveryMode = DeliveryModes.Transient };
            // This loop is the channel's only publisher, so the number read here is the one this publish gets.
            var sequenceNumber = await session.Publish.GetNextPublishSequenceNumberAsync(session.Lost).ConfigureAwait(false);
            await session.Publish.BasicPublishAsync(exchange, key, mandatory, properties, body, session.Lost).ConfigureAwait(false);
            session.Confirms.Published(sequenceNumber);
            if (_publishedOn is { } previous && !ReferenceEquals(previous, session) && !previous.Confirms.AllConfirmed)
            {
                // A flush now waits on this session only: what the replaced one left unconfirmed may be lost.
                _lostSinceFlush = true;
            }
            _publishedOn = session;
            Interlocked.Add(ref _framesPublished, frames);
            Interlocked.Increment(ref _messagesPublished);
        }
        catch (Exception e)
        {
            _countUnroutable(frames);
            _lostSinceFlush = true;
            _link.ReportBroken(session, $"publish failed: {e.Message}");
        }
    }

    private readonly record struct Outgoing(
        string Exchange, string Key, bool Mandatory, RoutedMessage? Message, string? Type, byte[]? Body, PresenceDelta? Presence,
        TaskCompletionSource? Flushed = null);

    private sealed class PendingBatch(ArrayBufferWriter<byte> buffer, bool mandatory)
    {
        public ArrayBufferWriter<byte> Buffer { get; } = buffer;

        public bool Mandatory { get; } = mandatory;

        public int Frames { get; set; }
    }
}
