using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;

namespace Switchboard.Gateway.Leadership;

/// <summary>
/// A gateway service that acts in rounds, and only while it holds an election role across all gateways (the
/// rebalancer, the autoscaler): it joins the election at start, runs a round every interval while it is the leader,
/// survives the failures a round expects (the round reports them) and any other (logged here, the next round then
/// waits longer, doubling up to <see cref="MaxBackoff"/>), and leaves the election when it stops.
/// </summary>
public abstract class ElectedRounds : IHostedService, IAsyncDisposable
{
    private readonly IBackplane _backplane;
    private readonly string _role;
    private readonly TimeSpan _interval;
    private readonly bool _enabled;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private ILeadership? _leadership;
    private Task? _loop;
    private int _stopped;

    /// <summary>Creates the service; nothing runs before <see cref="StartAsync"/>, and nothing at all unless <paramref name="enabled"/>.</summary>
    private protected ElectedRounds(IBackplane backplane, string role, TimeSpan interval, bool enabled, TimeProvider time, ILogger logger)
    {
        _backplane = backplane;
        _logger = logger;
        _role = role;
        _interval = interval;
        _enabled = enabled;
        Time = time;
    }

    /// <summary>The longest wait before the next round after rounds that failed unexpectedly (unless the interval is longer).</summary>
    internal static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);

    /// <summary>True while this gateway holds the role.</summary>
    public bool IsActive => _leadership?.IsLeader == true;

    /// <summary>The clock the rounds are paced by.</summary>
    private protected TimeProvider Time { get; }

    /// <summary>When the service started (the election joined).</summary>
    private protected DateTimeOffset StartedAt { get; private set; }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_enabled)
        {
            return;
        }
        StartedAt = Time.GetUtcNow();
        _leadership = await _backplane.ElectAsync(_role, cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        if (_leadership is not null)
        {
            await _leadership.DisposeAsync().ConfigureAwait(false);
            _leadership = null;
        }
        await OnStoppedAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>One round; runs only on the leader, one at a time.</summary>
    internal abstract Task RunRoundAsync(CancellationToken cancellationToken);

    /// <summary>Whether a round may run now (the leader may still be warming up, say).</summary>
    private protected virtual bool ReadyForRound() => true;

    /// <summary>
    /// A round failed with <paramref name="error"/>. True when the failure is one rounds expect (a node that did not
    /// answer, the broker away): it was reported and the next round comes as usual. False when it is not: it is logged
    /// as an error and the next round comes later (the service never ends on it).
    /// </summary>
    private protected abstract bool OnRoundFailed(Exception error);

    /// <summary>Called once the service stopped and left the election.</summary>
    private protected virtual ValueTask OnStoppedAsync() => ValueTask.CompletedTask;

    private async Task RunAsync()
    {
        var delay = _interval;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, Time, _stop.Token).ConfigureAwait(false);
                if (IsActive && ReadyForRound())
                {
                    await RunRoundAsync(_stop.Token).ConfigureAwait(false);
                }
                delay = _interval;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (Expected(e))
            {
                // Reported by OnRoundFailed; the next round comes as usual.
                delay = _interval;
            }
            catch (Exception e)
            {
                // A failure no round expects (a bug, a provisioner's own exception): ending here would stop this role
                // for good on the gateway that holds it, with nobody told. Back off in case it repeats at once.
                delay = NextBackoff(delay);
                _logger.RoundFailed(_role, delay, e);
            }
        }
    }

    private bool Expected(Exception error)
    {
        try
        {
            return OnRoundFailed(error);
        }
        catch (Exception)
        {
            // Treated as unexpected: logged with the original error.
            return false;
        }
    }

    /// <summary>Twice the last wait, between the interval and <see cref="MaxBackoff"/> (or the interval, if longer).</summary>
    private TimeSpan NextBackoff(TimeSpan last)
    {
        var cap = _interval > MaxBackoff ? _interval : MaxBackoff;
        var doubled = last * 2;
        return doubled > cap ? cap : doubled;
    }
}
