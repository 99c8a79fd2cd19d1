using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Switchboard.Client.Gateway;
using Switchboard.Client.Wire;
using Switchboard.Protocol;

namespace Switchboard.Client;

/// <summary>
/// A client of a Switchboard cluster: asks the gateway for a node, holds one WebSocket to it, and reconnects through
/// the gateway when it drops.
/// </summary>
/// <remarks>
/// <para>Guarantees: messages reach the application in the order the node sent them, through one reader
/// (<see cref="ReadAllAsync"/> or <see cref="OnMessage"/>). A send whose connection drops before its reply is sent
/// again on the next connection with the same idempotency key, which the cluster carries out once
/// (<see cref="SwitchboardClientOptions.RetrySends"/>); any other command in flight then fails with
/// <see cref="SwitchboardErrorReason.ConnectionLost"/> and is never re-sent. Commands go out in the order they were
/// made, across a reconnect too: a send sent again goes before any command made after it.
/// Commands issued while reconnecting wait for the new connection (within <see cref="SwitchboardClientOptions.CommandTimeout"/>).
/// Groups joined with <see cref="JoinAsync"/> are joined again on every new connection.</para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public sealed class SwitchboardClient : IAsyncDisposable
{
    private readonly SwitchboardClientOptions _options;
    private readonly GatewayClient _gateway;
    private readonly ReconnectBackoff _backoff;
    private readonly MessageBuffer _messages;
    // Cancelled by DisposeAsync: stops connect attempts, backoff waits and blocked deliveries.
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _gate = new();
    private readonly HashSet<string> _groups = new(StringComparer.Ordinal);

    // Guarded by _gate.
    private SwitchboardClientState _state;
    private NodeConnection? _connection;
    private WelcomeFrame? _welcome;
    private TaskCompletionSource<NodeConnection> _ready = NewReady();
    private Exception? _closeCause;
    private bool _disposed;
    private Task? _supervisor;
    private Func<SwitchboardMessage, ValueTask>? _onMessage;

    // Idempotency keys: unique to this client instance (a user's clients share one id space for keys), then a counter.
    private readonly string _keyPrefix = Guid.NewGuid().ToString("N");
    private long _nextCommandId;
    private long _nextKey;
    private readonly SendOrder<NodeConnection> _sendOrder = new();
    private long _lastSeq;
    // The session _lastSeq counts in: the last welcomed connection's, published or not (a re-join may fail after its
    // messages were delivered, and those are what the next resume must continue).
    private string? _resumeSession;
    // Ids of the last messages delivered, across sessions: touched only by the receive loop of the one live connection.
    private readonly RecentSet<long> _recentIds = new(4096);
    private int _readerActive;

    /// <summary>Creates a client; nothing is dialled until <see cref="ConnectAsync"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="SwitchboardClientOptions.Validate"/>).</exception>
    public SwitchboardClient(SwitchboardClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _gateway = new GatewayClient(options);
        _backoff = new ReconnectBackoff(options.ReconnectBaseDelay, options.ReconnectMaxDelay, options.Random);
        _messages = new MessageBuffer(options.MessageBufferCapacity);
    }

    /// <summary>Raised when a node connection is ready for commands: after <c>welcome</c> (and, on a reconnect, after re-joining groups).</summary>
    /// <remarks>Handlers run on the client's own tasks; exceptions they throw are ignored.</remarks>
    public event EventHandler<SwitchboardConnectedEventArgs>? Connected;

    /// <summary>
    /// Raised when a node connection is lost or closed, with <see cref="SwitchboardDisconnectedEventArgs.WillReconnect"/>
    /// saying whether the client reconnects; raised once more with <c>WillReconnect = false</c> if it later gives up.
    /// </summary>
    /// <remarks>Handlers run on the client's own tasks; exceptions they throw are ignored.</remarks>
    public event EventHandler<SwitchboardDisconnectedEventArgs>? Disconnected;

    /// <summary>
    /// Raised for an <c>error</c> frame from the node (input it could not tie to a command), and when re-joining a group
    /// after a reconnect is refused.
    /// </summary>
    /// <remarks>Handlers run on the receive loop: keep them short. Exceptions they throw are ignored.</remarks>
    public event EventHandler<SwitchboardErrorEventArgs>? ErrorReceived;

    /// <summary>
    /// Raised after a reconnect when messages may have been lost: the resume could not replay everything, or the session
    /// could not be resumed. Never raised when every missed message was replayed.
    /// </summary>
    /// <remarks>Handlers run on the client's own tasks; exceptions they throw are ignored.</remarks>
    public event EventHandler<SwitchboardMessagesLostEventArgs>? MessagesLost;

    /// <summary>
    /// The message handler, an alternative to <see cref="ReadAllAsync"/>: when set before <see cref="ConnectAsync"/>,
    /// every message is passed to it, one at a time, in order. It may send commands. Exceptions it throws are ignored,
    /// so one bad message does not stop delivery: handle them inside.
    /// </summary>
    /// <exception cref="InvalidOperationException">Set after <see cref="ConnectAsync"/> was called.</exception>
    public Func<SwitchboardMessage, ValueTask>? OnMessage
    {
        get => _onMessage;
        set
        {
            lock (_gate)
            {
                if (_state != SwitchboardClientState.Disconnected || _supervisor is not null)
                {
                    throw new InvalidOperationException($"Set {nameof(OnMessage)} before {nameof(ConnectAsync)}.");
                }
                _onMessage = value;
            }
        }
    }

    /// <summary>Where the client is in its life cycle.</summary>
    public SwitchboardClientState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>The id the node gave the current (or last) connection; a target of <c>conn:&lt;id&gt;</c>. Null before the first <c>welcome</c>.</summary>
    public string? ConnectionId => Volatile.Read(ref _welcome)?.ConnectionId;

    /// <summary>The user id the node knows this client by. Null before the first <c>welcome</c>.</summary>
    public string? UserId => Volatile.Read(ref _welcome)?.UserId;

    /// <summary>The node of the current (or last) connection. Null before the first <c>welcome</c>.</summary>
    public string? NodeId => Volatile.Read(ref _welcome)?.Node;

    /// <summary>The session of the current (or last) connection. Null before the first <c>welcome</c>.</summary>
    public string? SessionId => Volatile.Read(ref _welcome)?.Session;

    /// <summary>The groups this client has joined, which it joins again after every reconnect.</summary>
    public IReadOnlyCollection<string> Groups
    {
        get
        {
            lock (_gate)
            {
                return [.. _groups];
            }
        }
    }

    /// <summary>Every failed connect attempt (gateway refusal, failed dial, close before <c>welcome</c>), for diagnostics and tests.</summary>
    internal event Action<SwitchboardException>? ConnectAttemptFailed;

    /// <summary>Drops the current connection's TCP socket without a close handshake, as a network failure would (for tests).</summary>
    internal void AbortConnection() => Volatile.Read(ref _connection)?.Abort();

    /// <summary>The <c>seq</c> of the last message received in the current session (for session resume).</summary>
    internal long LastSeq => Interlocked.Read(ref _lastSeq);

    /// <summary>
    /// Connects: asks the gateway for a node, dials it and waits for <c>welcome</c>. A failed dial or a close before
    /// <c>welcome</c> (1013 full, 1012 draining, 1008 bad ticket) and a 503 from the gateway are retried with backoff,
    /// up to <see cref="SwitchboardClientOptions.MaxConnectAttempts"/> attempts.
    /// </summary>
    /// <exception cref="SwitchboardException">
    /// <see cref="SwitchboardErrorReason.Unauthorized"/> or <see cref="SwitchboardErrorReason.Rejected"/> when the gateway
    /// refuses for good; <see cref="SwitchboardErrorReason.Unavailable"/> when every attempt failed;
    /// <see cref="SwitchboardErrorReason.Closed"/> when the client was disposed meanwhile.
    /// </exception>
    /// <exception cref="InvalidOperationException">The client is already connecting or connected.</exception>
    /// <exception cref="ObjectDisposedException">The client was disposed.</exception>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state != SwitchboardClientState.Disconnected)
            {
                throw new InvalidOperationException($"{nameof(ConnectAsync)} was already called (the client is {_state}).");
            }
            _state = SwitchboardClientState.Connecting;
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        try
        {
            SwitchboardException? last = null;
            TimeSpan? retryAfter = null;
            for (var attempt = 0; attempt < _options.MaxConnectAttempts; attempt++)
            {
                if (attempt > 0)
                {
                    await DelayBeforeAttemptAsync(attempt - 1, retryAfter, linked.Token).ConfigureAwait(false);
                }
                var result = await AttemptAsync(null, avoidNode: null, linked.Token).ConfigureAwait(false);
                if (result.Connection is { } connection)
                {
                    Activate(connection, null);
                    if (!await PublishAsync(connection, isReconnect: false).ConfigureAwait(false))
                    {
                        throw SwitchboardErrors.Disposed();
                    }
                    lock (_gate)
                    {
                        _supervisor = Task.Run(() => SuperviseAsync(connection));
                    }
                    StartDispatcher();
                    return;
                }
                if (result.Permanent)
                {
                    throw result.Error!;
                }
                last = result.Error;
                retryAfter = result.RetryAfter;
            }
            throw SwitchboardErrors.Unavailable(_options.MaxConnectAttempts, last);
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw SwitchboardErrors.Disposed();
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                if (!_disposed && _state == SwitchboardClientState.Connecting)
                {
                    // Back to the start: the caller may try again. Commands that waited for this attempt fail.
                    _state = SwitchboardClientState.Disconnected;
                    FailReady(e is SwitchboardException ? e : SwitchboardErrors.NotConnected());
                    _ready = NewReady();
                }
            }
            throw;
        }
    }

    /// <summary>Sends <paramref name="data"/> to <paramref name="to"/> and waits for the node's reply.</summary>
    /// <param name="to"><c>user:&lt;id&gt;</c>, <c>conn:&lt;id&gt;</c>, <c>group:&lt;name&gt;</c> or <c>all</c>.</param>
    /// <param name="data">The payload, any JSON value.</param>
    /// <param name="cancellationToken">Stops waiting; the command may still be carried out if it was sent.</param>
    /// <exception cref="SwitchboardCommandException">The node refused it, for example with <c>bad_target</c> or <c>rate_limited</c>.</exception>
    /// <exception cref="SwitchboardException">The connection was lost with the send in flight and it was not sent again (see <see cref="SwitchboardClientOptions.RetrySends"/>), or no reply came in time, across any resends.</exception>
    public Task SendAsync(string to, JsonElement data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(to);
        var key = NextKey();
        return ExecuteAsync(WireNames.Types.Send, (buffer, id) => ClientFrames.Send(buffer, to, data, id, key), onOk: null, cancellationToken, retryWhenLost: key is not null);
    }

    /// <summary>Serializes <paramref name="data"/> with source-generated metadata, sends it to <paramref name="to"/> and waits for the reply.</summary>
    /// <param name="to"><c>user:&lt;id&gt;</c>, <c>conn:&lt;id&gt;</c>, <c>group:&lt;name&gt;</c> or <c>all</c>.</param>
    /// <param name="data">The payload.</param>
    /// <param name="typeInfo">How to serialize it, from a <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>.</param>
    /// <param name="cancellationToken">Stops waiting; the command may still be carried out if it was sent.</param>
    /// <exception cref="SwitchboardCommandException">The node refused it.</exception>
    /// <exception cref="SwitchboardException">The connection was lost with the send in flight and it was not sent again (see <see cref="SwitchboardClientOptions.RetrySends"/>), or no reply came in time, across any resends.</exception>
    public Task SendAsync<T>(string to, T data, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(to);
        ArgumentNullException.ThrowIfNull(typeInfo);
        var key = NextKey();
        return ExecuteAsync(WireNames.Types.Send, (buffer, id) => ClientFrames.Send(buffer, to, data, typeInfo, id, key), onOk: null, cancellationToken, retryWhenLost: key is not null);
    }

    /// <summary>Sends payload bytes that are already UTF-8 JSON (validated, not re-encoded) and waits for the reply.</summary>
    /// <param name="to"><c>user:&lt;id&gt;</c>, <c>conn:&lt;id&gt;</c>, <c>group:&lt;name&gt;</c> or <c>all</c>.</param>
    /// <param name="utf8JsonData">One JSON value in UTF-8.</param>
    /// <param name="cancellationToken">Stops waiting; the command may still be carried out if it was sent.</param>
    /// <exception cref="ArgumentException"><paramref name="utf8JsonData"/> is not one valid JSON value.</exception>
    /// <exception cref="SwitchboardCommandException">The node refused it.</exception>
    /// <exception cref="SwitchboardException">The connection was lost with the send in flight and it was not sent again (see <see cref="SwitchboardClientOptions.RetrySends"/>), or no reply came in time, across any resends.</exception>
    public Task SendRawAsync(string to, ReadOnlyMemory<byte> utf8JsonData, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(to);
        var key = NextKey();
        return ExecuteAsync(WireNames.Types.Send, (buffer, id) => ClientFrames.SendRaw(buffer, to, utf8JsonData, id, key), onOk: null, cancellationToken, retryWhenLost: key is not null);
    }

    /// <summary>Joins <paramref name="group"/> and waits for the reply; the group is joined again after every reconnect.</summary>
    /// <exception cref="SwitchboardCommandException">The node refused it, for example with <c>invalid_field</c>.</exception>
    /// <exception cref="SwitchboardException">The connection was lost with the command in flight (the group is then not remembered), or no reply came in time.</exception>
    public Task JoinAsync(string group, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        // Remembered on the receive loop when the ok arrives, so a reconnect that starts right after it re-joins the group.
        return ExecuteAsync(WireNames.Types.Join, (buffer, id) => ClientFrames.Join(buffer, group, id), onOk: () =>
        {
            lock (_gate)
            {
                _groups.Add(group);
            }
        }, cancellationToken);
    }

    /// <summary>
    /// Leaves <paramref name="group"/> and waits for the reply. The group is forgotten at once, so it is not re-joined
    /// after a reconnect even if this call fails.
    /// </summary>
    /// <exception cref="SwitchboardCommandException">The node refused it.</exception>
    /// <exception cref="SwitchboardException">The connection was lost with the command in flight, or no reply came in time.</exception>
    public Task LeaveAsync(string group, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        lock (_gate)
        {
            _groups.Remove(group);
        }
        return ExecuteAsync(WireNames.Types.Leave, (buffer, id) => ClientFrames.Leave(buffer, group, id), onOk: null, cancellationToken);
    }

    /// <summary>Sends <c>ping</c> and waits for the reply; returns the round-trip time.</summary>
    /// <exception cref="SwitchboardException">The connection was lost with the ping in flight, or no reply came in time.</exception>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var started = _options.TimeProvider.GetTimestamp();
        await ExecuteAsync(WireNames.Types.Ping, ClientFrames.Ping, onOk: null, cancellationToken).ConfigureAwait(false);
        return _options.TimeProvider.GetElapsedTime(started);
    }

    /// <summary>
    /// Reads every message in arrival order, across reconnects, until the client is disposed (the sequence ends) or
    /// closes for good (it throws the <see cref="SwitchboardException"/> that closed it). One reader at a time.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another reader is active, or <see cref="OnMessage"/> is set.</exception>
    public async IAsyncEnumerable<SwitchboardMessage> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_onMessage is not null)
        {
            throw new InvalidOperationException($"Messages go to {nameof(OnMessage)}; {nameof(ReadAllAsync)} cannot be used with it.");
        }
        if (Interlocked.Exchange(ref _readerActive, 1) == 1)
        {
            throw new InvalidOperationException($"{nameof(ReadAllAsync)} allows one reader at a time.");
        }
        try
        {
            while (await _messages.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (_messages.TryRead(out var message))
                {
                    yield return message;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _readerActive, 0);
        }
    }

    /// <summary>
    /// Closes the connection with 1000, stops reconnecting, fails commands in flight with
    /// <see cref="SwitchboardErrorReason.Closed"/> and ends <see cref="ReadAllAsync"/>. Messages not yet read are dropped:
    /// once it has been called, <see cref="ReadAllAsync"/> and <see cref="OnMessage"/> get no further message, except at
    /// most one that was already being handed out when it was called.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        NodeConnection? connection;
        Task? supervisor;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _state = SwitchboardClientState.Closed;
            connection = _connection;
            if (connection is not null)
            {
                _sendOrder.Ended(connection);
            }
            _connection = null;
            supervisor = _supervisor;
            FailReady(SwitchboardErrors.Disposed());
        }

        // Documented: what the application has not read is dropped, and so is what arrives during the close.
        _messages.DropUnread();
        // First stop reconnects and unblock a delivery waiting for buffer space, so the close handshake is read promptly.
        _lifetime.Cancel();
        if (connection is not null)
        {
            await connection.CloseAsync(CloseCodes.Normal, "client closed").ConfigureAwait(false);
        }
        if (supervisor is not null)
        {
            await supervisor.ConfigureAwait(false);
        }
        _messages.TryComplete();
        if (connection is not null)
        {
            RaiseDisconnected(new SwitchboardDisconnectedEventArgs(CloseCodes.Normal, "client closed", willReconnect: false, error: null));
        }
        _gateway.Dispose();
    }

    /// <summary>How often one send is sent again after lost connections before its <c>ConnectionLost</c> is thrown.</summary>
    private const int MaxResends = 3;

    /// <summary>Close codes by which the node refuses what the client sent: a send that was in flight may be why.</summary>
    private static bool MayBeTheCommandsFault(int status) => status is (int)System.Net.WebSockets.WebSocketCloseStatus.ProtocolError
        or (int)System.Net.WebSockets.WebSocketCloseStatus.InvalidMessageType or CloseCodes.InvalidPayload or CloseCodes.PolicyViolation
        or CloseCodes.MessageTooBig or CloseCodes.TooManyInvalidFrames;

    private string? NextKey() =>
        _options.RetrySends ? _keyPrefix + "." + Interlocked.Increment(ref _nextKey).ToString(CultureInfo.InvariantCulture) : null;

    private async Task ExecuteAsync(string command, Action<IBufferWriter<byte>, string> write, Action? onOk, CancellationToken cancellationToken,
        bool retryWhenLost = false)
    {
        var number = Interlocked.Increment(ref _nextCommandId);
        var id = "c" + number.ToString(CultureInfo.InvariantCulture);
        // Serialized before anything waits, so bad input fails at once, connected or not.
        var frame = new ArrayBufferWriter<byte>(128);
        write(frame, id);

        using var timeout = new CancellationTokenSource(_options.CommandTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var resends = 0;
        ReplyFrame reply;
        try
        {
            while (true)
            {
                var ready = GetConnectionAsync(linked.Token);
                if (!ready.IsCompleted)
                {
                    _sendOrder.WaitingForConnection(number);
                }
                var connection = await ready.ConfigureAwait(false);
                // Commands sent again after a lost connection, or waiting for one, go out before this one, made after them.
                await _sendOrder.WaitTurnAsync(number, linked.Token).ConfigureAwait(false);
                if (connection.HasEnded)
                {
                    // It ended while this command waited its turn: wait for the next one rather than fail to send on it.
                    await connection.Completion.WaitAsync(linked.Token).ConfigureAwait(false);
                    OnConnectionEnding(connection);
                    continue;
                }
                _sendOrder.Writing(number, connection);
                try
                {
                    reply = await connection.SendCommandAsync(id, command, frame.WrittenMemory, onOk, _sendOrder, number, linked.Token).ConfigureAwait(false);
                    break;
                }
                catch (NodeConnection.NotSentException)
                {
                    // The connection ended before the frame left: sending it on the next one is still at most once.
                    await connection.Completion.WaitAsync(linked.Token).ConfigureAwait(false);
                    OnConnectionEnding(connection);
                }
                catch (SwitchboardException e) when (retryWhenLost && e.Reason == SwitchboardErrorReason.ConnectionLost && _options.AutoReconnect
                    && resends < MaxResends)
                {
                    // The node may have carried it out: the same frame, with the same key, is one message however often it is.
                    var end = await connection.Completion.WaitAsync(linked.Token).ConfigureAwait(false);
                    if (end.CloseStatus is { } status && MayBeTheCommandsFault(status))
                    {
                        // Sending it again would only be refused again (too big, invalid), costing a connection each time.
                        throw;
                    }
                    resends++;
                    OnConnectionEnding(connection);
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw SwitchboardErrors.Timeout(command, _options.CommandTimeout);
        }
        finally
        {
            _sendOrder.Done(number);
        }
        if (!reply.Ok)
        {
            throw new SwitchboardCommandException(command, reply.ErrorCode!, reply.ErrorMessage!);
        }
    }

    private async Task<NodeConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        Task<NodeConnection> ready;
        lock (_gate)
        {
            if (_disposed)
            {
                throw SwitchboardErrors.Disposed();
            }
            switch (_state)
            {
                case SwitchboardClientState.Connected when _connection is { } current:
                    return current;
                case SwitchboardClientState.Disconnected:
                    throw SwitchboardErrors.NotConnected();
                case SwitchboardClientState.Closed:
                    throw SwitchboardErrors.Closed(_closeCause);
            }
            ready = _ready.Task;
        }
        return await ready.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One attempt: gateway, dial, welcome, bounded by <see cref="SwitchboardClientOptions.ConnectTimeout"/>.</summary>
    private async Task<AttemptResult> TryConnectOnceAsync(ResumeRequest? resume, string? avoidNode, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var answer = await _gateway.RequestTicketAsync(resume?.Session, avoidNode, linked.Token).ConfigureAwait(false);
            if (answer.Ticket is not { } ticket)
            {
                return new AttemptResult(null, answer.Error, answer.Permanent, answer.RetryAfter);
            }
            var dial = _options.ProxyUrl is { } proxy ? ConnectTicket.BuildDialUri(proxy, ticket.Token) : ticket.DialUri;
            if (_options.DropRepeats)
            {
                dial = new UriBuilder(dial) { Query = dial.Query.TrimStart('?') + "&" + WireNames.MessageIdsQueryParameter + "=1" }.Uri;
            }
            var opened = await NodeConnection.OpenAsync(dial, _options, resume, linked.Token).ConfigureAwait(false);
            return new AttemptResult(opened.Connection, opened.Error, Permanent: false, RetryAfter: null);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new AttemptResult(null, SwitchboardErrors.AttemptTimedOut(_options.ConnectTimeout), Permanent: false, RetryAfter: null);
        }
    }

    private async Task<AttemptResult> AttemptAsync(ResumeRequest? resume, string? avoidNode, CancellationToken cancellationToken)
    {
        var result = await TryConnectOnceAsync(resume, avoidNode, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            try
            {
                ConnectAttemptFailed?.Invoke(error);
            }
            catch (Exception)
            {
                // Diagnostics only.
            }
        }
        return result;
    }

    private readonly record struct AttemptResult(NodeConnection? Connection, SwitchboardException? Error, bool Permanent, TimeSpan? RetryAfter);

    private Task DelayBeforeAttemptAsync(int attempt, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        var delay = _backoff.Next(attempt);
        // The gateway knows when it expects capacity; never ask sooner than it said.
        if (retryAfter is { } atLeast && atLeast > delay)
        {
            delay = atLeast;
        }
        return delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, _options.TimeProvider, cancellationToken);
    }

    /// <summary>
    /// What to ask for on the next reconnect, when resuming is on: the session of the last connection that delivered
    /// messages (not necessarily the last one published) and the last seq received in it.
    /// </summary>
    private ResumeRequest? NextResume()
    {
        var session = Volatile.Read(ref _resumeSession);
        return _options.ResumeSessions && session is not null ? new ResumeRequest(session, Interlocked.Read(ref _lastSeq)) : null;
    }

    /// <summary>Starts the receive loop of a welcomed connection, after noting whether its session continues the last one.</summary>
    private void Activate(NodeConnection connection, ResumeRequest? requested)
    {
        var welcome = connection.Welcome;
        if (requested is { } asked && welcome.Session == asked.Session)
        {
            // The session continues: seqs go on from the last one received; a part the node could no longer replay is reported.
            if (welcome.MissedFrom is { } from)
            {
                Raise(MessagesLost, new SwitchboardMessagesLostEventArgs(asked.Session, from, welcome.MissedTo, sessionLost: false));
            }
        }
        else
        {
            if (requested is { } lost)
            {
                Raise(MessagesLost, new SwitchboardMessagesLostEventArgs(lost.Session, lost.LastSeq + 1, null, sessionLost: true));
            }
            // A new session numbers its messages from 1.
            Interlocked.Exchange(ref _lastSeq, 0);
        }
        Volatile.Write(ref _resumeSession, welcome.Session);
        connection.CommandPending = _messages.Pulse;
        connection.Start(frame => DeliverAsync(connection, frame), OnErrorFrame, OnConnectionEnding);
    }

    /// <summary>
    /// Makes <paramref name="connection"/> the one commands use; false (and the connection closed) if the client was
    /// disposed meanwhile. A connection that has just ended is still published: the supervisor sees it end and reconnects.
    /// </summary>
    private async Task<bool> PublishAsync(NodeConnection connection, bool isReconnect)
    {
        bool published;
        lock (_gate)
        {
            published = !_disposed;
            if (published)
            {
                _connection = connection;
                _welcome = connection.Welcome;
                _state = SwitchboardClientState.Connected;
                _sendOrder.Live(connection);
                _ready.TrySetResult(connection);
            }
        }
        if (!published)
        {
            await connection.CloseAsync(CloseCodes.Normal, "client closed").ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
            return false;
        }
        var welcome = connection.Welcome;
        Raise(Connected, new SwitchboardConnectedEventArgs(welcome.Node, welcome.ConnectionId, welcome.Session, welcome.Resumed, isReconnect));
        return true;
    }

    /// <summary>Runs on the receive loop when a connection ends: stop handing it out before its commands fail.</summary>
    private void OnConnectionEnding(NodeConnection connection)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_connection, connection))
            {
                return;
            }
            _sendOrder.Ended(connection);
            _connection = null;
            if (_ready.Task.IsCompleted)
            {
                _ready = NewReady();
            }
            if (!_disposed)
            {
                _state = _options.AutoReconnect ? SwitchboardClientState.Reconnecting : SwitchboardClientState.Closed;
            }
        }
    }

    /// <summary>The lifetime of the client after the first connect: wait for the connection to end, then reconnect.</summary>
    private async Task SuperviseAsync(NodeConnection connection)
    {
        while (true)
        {
            var end = await connection.Completion.ConfigureAwait(false);
            // Usually done already on the receive loop; repeated for a connection that ended while being published.
            OnConnectionEnding(connection);
            await connection.DisposeAsync().ConfigureAwait(false);
            if (_lifetime.IsCancellationRequested || end.ClosedByClient)
            {
                return;
            }
            // 3002 means this client sends frames the protocol rejects: reconnecting would only repeat it.
            if (!_options.AutoReconnect || end.CloseStatus == CloseCodes.TooManyInvalidFrames)
            {
                var cause = SwitchboardErrors.ConnectionClosed(end.CloseStatus, end.CloseDescription, end.Error);
                CloseForGood(cause);
                RaiseDisconnected(new SwitchboardDisconnectedEventArgs(end.CloseStatus, end.CloseDescription, willReconnect: false, end.Error));
                return;
            }
            RaiseDisconnected(new SwitchboardDisconnectedEventArgs(end.CloseStatus, end.CloseDescription, willReconnect: true, end.Error));
            // Asked to move (a reconnect frame: drain or rebalance; 1012: the node is going): not back to the same node,
            // which may still look the least loaded to the gateway.
            var moved = end.ReconnectRequested || end.CloseStatus == CloseCodes.ServiceRestart;
            var next = await ReconnectAsync(moved ? connection.Welcome.Node : null).ConfigureAwait(false);
            if (next is null)
            {
                return;
            }
            connection = next;
        }
    }

    /// <summary>
    /// Reconnects through the gateway with full-jitter backoff until it succeeds, the gateway refuses for good, or the
    /// client is disposed (null in the last two cases). The attempt count starts from 0 each time. With
    /// <paramref name="avoidNode"/>, the gateway is asked for another node when another can take the connection.
    /// </summary>
    private async Task<NodeConnection?> ReconnectAsync(string? avoidNode)
    {
        TimeSpan? retryAfter = null;
        for (var attempt = 0; ; attempt++)
        {
            NodeConnection? candidate = null;
            try
            {
                await DelayBeforeAttemptAsync(attempt, retryAfter, _lifetime.Token).ConfigureAwait(false);
                var resume = NextResume();
                var result = await AttemptAsync(resume, avoidNode, _lifetime.Token).ConfigureAwait(false);
                if (result.Connection is { } connection)
                {
                    candidate = connection;
                    Activate(connection, resume);
                    if (!await RejoinGroupsAsync(connection).ConfigureAwait(false))
                    {
                        candidate = null;
                        connection.Abort();
                        await connection.DisposeAsync().ConfigureAwait(false);
                        retryAfter = null;
                        continue;
                    }
                    candidate = null;
                    return await PublishAsync(connection, isReconnect: true).ConfigureAwait(false) ? connection : null;
                }
                if (result.Permanent)
                {
                    CloseForGood(result.Error!);
                    RaiseDisconnected(new SwitchboardDisconnectedEventArgs(null, result.Error!.Message, willReconnect: false, result.Error));
                    return null;
                }
                retryAfter = result.RetryAfter;
            }
            catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
            {
                if (candidate is not null)
                {
                    await candidate.CloseAsync(CloseCodes.Normal, "client closed").ConfigureAwait(false);
                    await candidate.DisposeAsync().ConfigureAwait(false);
                }
                return null;
            }
        }
    }

    /// <summary>
    /// Joins every remembered group on a new connection before it is handed out. False when the connection failed meanwhile
    /// (try another); a group the node refuses is forgotten and reported through <see cref="ErrorReceived"/>.
    /// </summary>
    private async Task<bool> RejoinGroupsAsync(NodeConnection connection)
    {
        string[] groups;
        lock (_gate)
        {
            groups = [.. _groups];
        }
        if (groups.Length == 0)
        {
            return true;
        }
        using var timeout = new CancellationTokenSource(_options.CommandTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token, timeout.Token);
        var joins = groups.Select(async group =>
        {
            var id = "c" + Interlocked.Increment(ref _nextCommandId).ToString(CultureInfo.InvariantCulture);
            var frame = new ArrayBufferWriter<byte>(64);
            ClientFrames.Join(frame, group, id);
            var reply = await connection.SendCommandAsync(id, WireNames.Types.Join, frame.WrittenMemory, onOk: null, order: null, number: 0, linked.Token).ConfigureAwait(false);
            if (!reply.Ok)
            {
                lock (_gate)
                {
                    _groups.Remove(group);
                }
                Raise(ErrorReceived, new SwitchboardErrorEventArgs(reply.ErrorCode!, $"Re-joining group '{group}' after a reconnect failed: {reply.ErrorMessage}"));
            }
        }).ToArray();
        try
        {
            await Task.WhenAll(joins).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SwitchboardException or NodeConnection.NotSentException
                                  || (e is OperationCanceledException && !_lifetime.IsCancellationRequested))
        {
            return false;
        }
    }

    private void CloseForGood(Exception cause)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _state = SwitchboardClientState.Closed;
            _closeCause = cause;
            FailReady(SwitchboardErrors.Closed(cause));
        }
        _messages.TryComplete(cause);
    }

    private async ValueTask DeliverAsync(NodeConnection connection, MessageFrame frame)
    {
        var message = frame.Message;
        if (message.Seq <= Interlocked.Read(ref _lastSeq))
        {
            // Already delivered in this session (a replay overlapping what arrived before the move): once only.
            return;
        }
        Interlocked.Exchange(ref _lastSeq, message.Seq);
        if (_options.DropRepeats && frame.MessageId is { } id && !_recentIds.Add(id))
        {
            // A send carried out twice: its seq still counts (the session has it), the application had it already.
            return;
        }
        try
        {
            // Buffer full: stop reading the socket until the application catches up (the node sees the back-pressure),
            // unless a command on this connection awaits its reply. This connection's, not the published one's: while
            // it re-joins groups after a reconnect it is not published yet, and the joins' replies sit behind the replay.
            await _messages.WriteAsync(message, () => connection.HasPendingCommands, connection.Aborted, _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // Disposing: nobody will read it.
        }
    }

    private void OnErrorFrame(ErrorFrame error) => Raise(ErrorReceived, new SwitchboardErrorEventArgs(error.Code, error.Message));

    private void StartDispatcher()
    {
        if (_onMessage is not { } handler)
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var message in _messages.ReadAllAsync().ConfigureAwait(false))
                {
                    try
                    {
                        await handler(message).ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // Documented: the handler's exceptions do not stop delivery.
                    }
                }
            }
            catch (SwitchboardException)
            {
                // The client closed for good; Disconnected reported why.
            }
        });
    }

    private void RaiseDisconnected(SwitchboardDisconnectedEventArgs args) => Raise(Disconnected, args);

    private void Raise<TArgs>(EventHandler<TArgs>? handler, TArgs args)
    {
        if (handler is null)
        {
            return;
        }
        try
        {
            handler(this, args);
        }
        catch (Exception)
        {
            // An application handler must not break the client's loops.
        }
    }

    /// <summary>Fails the commands waiting for a connection. Called under <see cref="_gate"/>.</summary>
    private void FailReady(Exception error)
    {
        if (_ready.TrySetException(error))
        {
            // Often nobody waits on it: mark the fault observed, or the finalizer reports it as UnobservedTaskException.
            _ = _ready.Task.Exception;
        }
    }

    private static TaskCompletionSource<NodeConnection> NewReady() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
