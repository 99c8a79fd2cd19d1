using Microsoft.Extensions.Logging;
using Switchboard.Proxy.Backends;
using Switchboard.Proxy.Hosting;

namespace Switchboard.Proxy.Health;

/// <summary>
/// Backend health. Active: GET <c>HealthCheck:Path</c> on every backend each interval; <c>Fall</c> failures in a row
/// eject it, <c>Rise</c> passes bring it back. Passive: <c>PassiveFall</c> failed dials (or abnormal closes) in a row
/// eject it; with active checks on, it comes back through them, otherwise it is retried after <c>PassiveEjectionTime</c>.
/// The two are counted apart: a dial that works resets only the passive count, a passing check only the active one.
/// An ejected backend takes no new connections; its established tunnels continue.
/// </summary>
internal sealed class HealthMonitor : IAsyncDisposable
{
    private readonly BackendPool _pool;
    private readonly Func<ProxySettings> _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public HealthMonitor(BackendPool pool, Func<ProxySettings> settings, TimeProvider time, ILogger logger)
    {
        _pool = pool;
        _settings = settings;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1), UseProxy = false, AllowAutoRedirect = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    private HealthCheckOptions Options => _settings().Options.HealthCheck;

    private bool ActiveChecks => !string.IsNullOrEmpty(Options.Path);

    /// <summary>A dial to <paramref name="backend"/> worked.</summary>
    public void DialSucceeded(Backend backend)
    {
        if (backend.ReportDialSucceeded())
        {
            ProxyLog.BackendRestored(_logger, backend.Id);
        }
    }

    /// <summary>A dial to <paramref name="backend"/> failed, or a tunnel to it ended abnormally.</summary>
    public void PassiveFailure(Backend backend, string why, bool isDial)
    {
        var settings = _settings().Options;
        // With active checks the checks decide when it is back; without, it is retried after the ejection time.
        var retryAt = ActiveChecks ? DateTimeOffset.MaxValue : _time.GetUtcNow() + settings.PassiveEjectionTime;
        if (backend.ReportPassiveFailure(settings.PassiveFall, retryAt, isDial))
        {
            ProxyLog.BackendEjected(_logger, backend.Id, $"{settings.PassiveFall} failures in a row, the last: {why}");
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var options = Options;
            if (!string.IsNullOrEmpty(options.Path))
            {
                await Task.WhenAll(_pool.All.Select(b => CheckAsync(b, options, cancellationToken))).ConfigureAwait(false);
            }
            try
            {
                await Task.Delay(options.Interval, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task CheckAsync(Backend backend, HealthCheckOptions options, CancellationToken cancellationToken)
    {
        var scheme = backend.Url.Scheme == "wss" ? "https" : "http";
        var url = new Uri($"{scheme}://{backend.Url.Authority}{options.Path}");
        string? failure;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Timeout);
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            failure = response.IsSuccessStatusCode ? null : $"GET {options.Path} answered {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (OperationCanceledException)
        {
            failure = $"GET {options.Path} timed out after {options.Timeout.TotalSeconds:0.###} s";
        }
        catch (HttpRequestException e)
        {
            failure = $"GET {options.Path} failed: {e.Message}";
        }
        if (failure is null)
        {
            if (backend.ReportCheckPassed(options.Rise))
            {
                ProxyLog.BackendRestored(_logger, backend.Id);
            }
        }
        else if (backend.ReportCheckFailed(options.Fall))
        {
            ProxyLog.BackendEjected(_logger, backend.Id, failure);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping is normal.
        }
        _http.Dispose();
        _stop.Dispose();
    }
}
