using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// Keeps one connection to the broker: connects, notices the loss of the connection or of either channel, and
/// reconnects with exponential backoff and full jitter, handing each new session to <c>establish</c> so the
/// backplane re-declares and re-binds everything it had.
/// </summary>
/// <remarks>
/// RabbitMQ.Client's automatic recovery is off on purpose: it retries at a fixed interval, and the backplane must
/// know exactly when it is disconnected (to count what it cannot route) and must rebuild topology that depends on
/// its own state (which groups have local members now, not when the connection was lost).
/// </remarks>
internal sealed class BrokerLink : IAsyncDisposable
{
    private readonly RabbitMqBackplaneOptions _options;
    private readonly Func<BrokerSession, CancellationToken, Task> _establish;
    private readonly Func<long> _unroutable;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _disposed = new();
    private readonly Lock _lock = new();
    private BrokerSession? _current;
    private Task _reconnecting = Task.CompletedTask;
    private DateTimeOffset _lostAt;
    private long _unroutableAtLoss;

    public BrokerLink(
        RabbitMqBackplaneOptions options, Func<BrokerSession, CancellationToken, Task> establish, Func<long> unroutable,
        ILogger logger, TimeProvider time)
    {
        _options = options;
        _establish = establish;
        _unroutable = unroutable;
        _logger = logger;
        _time = time;
    }

    /// <summary>The live session, or null while disconnected.</summary>
    public BrokerSession? Current => Volatile.Read(ref _current) is { IsOpen: true } session ? session : null;

    /// <summary>Raised (on a pool thread) each time a new session is established, after <c>establish</c> ran.</summary>
    public event Action? Established;

    /// <summary>Connects for the first time; failing here fails start-up with a clear error, unlike later outages.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await OpenSessionAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new BackplaneUnavailableException(
                $"Cannot reach RabbitMQ at {_options.SafeEndpoint}: {(e is OperationCanceledException ? $"no answer within {_options.ConnectTimeout.TotalSeconds:0.#} s" : e.Message)}", e);
        }
        RabbitMqLog.Connected(_logger, _options.SafeEndpoint);
    }

    /// <summary>Reports that an operation on <paramref name="session"/> failed: drop it and reconnect.</summary>
    public void ReportBroken(BrokerSession session, string reason)
    {
        session.MarkLost();
        lock (_lock)
        {
            if (!ReferenceEquals(_current, session) || _disposed.IsCancellationRequested)
            {
                return;
            }
            _current = null;
            _lostAt = _time.GetUtcNow();
            _unroutableAtLoss = _unroutable();
            RabbitMqLog.Lost(_logger, _options.SafeEndpoint, reason);
            _reconnecting = Task.Run(() => ReconnectAsync(session));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }
        await _disposed.CancelAsync().ConfigureAwait(false);
        Task reconnecting;
        BrokerSession? session;
        lock (_lock)
        {
            reconnecting = _reconnecting;
            session = _current;
            _current = null;
        }
        await reconnecting.ConfigureAwait(false);
        if (session is not null)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ReconnectAsync(BrokerSession lost)
    {
        await lost.DisposeAsync().ConfigureAwait(false);
        var delay = _options.ReconnectMinDelay;
        while (!_disposed.IsCancellationRequested)
        {
            try
            {
                // Full jitter: many nodes losing the same broker must not come back in lockstep.
                await Task.Delay(TimeSpan.FromTicks((long)(delay.Ticks * Random.Shared.NextDouble())), _time, _disposed.Token).ConfigureAwait(false);
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(_disposed.Token);
                attempt.CancelAfter(_options.ConnectTimeout);
                await OpenSessionAsync(attempt.Token).ConfigureAwait(false);
                RabbitMqLog.Restored(_logger, _options.SafeEndpoint, _time.GetUtcNow() - _lostAt, _unroutable() - _unroutableAtLoss);
                return;
            }
            catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                RabbitMqLog.ReconnectFailed(_logger, _options.SafeEndpoint, e);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
            }
        }
    }

    private async Task OpenSessionAsync(CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = _options.Uri!,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            ClientProvidedName = _options.ClientName,
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
        };
        var connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        BrokerSession? session = null;
        try
        {
            // Confirms tracked here, not by the library: its tracking would make each publish wait for its own confirm.
            var publish = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: false), cancellationToken).ConfigureAwait(false);
            var topology = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            session = new BrokerSession(connection, publish, topology);
            var watched = session;
            publish.BasicAcksAsync += (_, e) =>
            {
                watched.Confirms.Acked(e.DeliveryTag, e.Multiple);
                return Task.CompletedTask;
            };
            publish.BasicNacksAsync += (_, e) =>
            {
                watched.Confirms.Nacked(e.DeliveryTag, e.Multiple);
                return Task.CompletedTask;
            };
            connection.ConnectionShutdownAsync += (_, e) => OnShutdown(watched, e);
            publish.ChannelShutdownAsync += (_, e) => OnShutdown(watched, e);
            topology.ChannelShutdownAsync += (_, e) => OnShutdown(watched, e);
            await _establish(session, cancellationToken).ConfigureAwait(false);
            lock (_lock)
            {
                if (_disposed.IsCancellationRequested)
                {
                    throw new OperationCanceledException(_disposed.Token);
                }
                _current = session;
            }
        }
        catch
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
        if (!session.IsOpen)
        {
            // Lost while establishing, when the shutdown handler could not yet see it as the current session.
            ReportBroken(session, "closed while re-declaring");
            return;
        }
        Established?.Invoke();
    }

    private Task OnShutdown(BrokerSession session, ShutdownEventArgs e)
    {
        if (e.Initiator != ShutdownInitiator.Application)
        {
            ReportBroken(session, $"{e.ReplyCode} {e.ReplyText}");
        }
        return Task.CompletedTask;
    }
}
