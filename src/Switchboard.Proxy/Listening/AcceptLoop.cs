using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Switchboard.Proxy.Admin;

namespace Switchboard.Proxy.Listening;

/// <summary>
/// Takes client connections off the listener and hands each on, paced by the accept-rate limit (which only accepts that
/// work use up). An accept that fails because the proxy is out of file descriptors or kernel memory would fail again at
/// once (the connection stays in the backlog): the loop then waits, 10 ms at first and twice as long each time after, up
/// to 100 ms, instead of burning a core; the first accept that works ends the backoff.
/// </summary>
internal sealed class AcceptLoop(
    Func<CancellationToken, ValueTask<Socket>> accept, Action<Socket> handle, Func<double> acceptRatePerSecond,
    ProxyMetrics metrics, TimeProvider time, ILogger logger)
{
    /// <summary>The wait after the first accept that failed for want of a resource.</summary>
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest wait between two accepts that fail for want of a resource.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(100);

    private readonly AcceptRateLimiter _rateLimiter = new(time);
    private readonly LogThrottle _backoffLog = new(time, TimeSpan.FromSeconds(1));

    /// <summary>Runs until <paramref name="stopping"/> or the listener is disposed.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var backoff = TimeSpan.Zero;
        while (!stopping.IsCancellationRequested)
        {
            var rate = acceptRatePerSecond();
            var wait = _rateLimiter.TakeOrWait(rate);
            if (wait > TimeSpan.Zero)
            {
                metrics.AcceptDelayed();
                if (!await DelayAsync(wait, stopping).ConfigureAwait(false))
                {
                    return;
                }
                continue;
            }
            Socket client;
            try
            {
                client = await accept(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (IsShortOfResources(e.SocketErrorCode))
            {
                // The rate limit counts clients let in, not attempts.
                _rateLimiter.Refund(rate);
                backoff = backoff == TimeSpan.Zero ? FirstBackoff : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                metrics.AcceptBackedOff();
                if (_backoffLog.ShouldLog(out var held))
                {
                    ProxyLog.AcceptBackingOff(logger, e.Message, backoff.TotalMilliseconds, held);
                }
                if (!await DelayAsync(backoff, stopping).ConfigureAwait(false))
                {
                    return;
                }
                continue;
            }
            catch (SocketException e)
            {
                // A client that reset before we took it: keep accepting.
                _rateLimiter.Refund(rate);
                ProxyLog.AcceptFailed(logger, e.Message);
                continue;
            }
            backoff = TimeSpan.Zero;
            metrics.Accepted();
            handle(client);
        }
    }

    /// <summary>EMFILE and ENFILE (no descriptor), ENOBUFS and ENOMEM (no kernel memory): the next accept would fail too.</summary>
    public static bool IsShortOfResources(SocketError error) => error is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable;

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, time, stopping).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
