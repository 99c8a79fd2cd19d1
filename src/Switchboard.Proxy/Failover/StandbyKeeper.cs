using System.Net.WebSockets;
using Switchboard.Proxy.Listening;

namespace Switchboard.Proxy.Failover;

/// <summary>
/// Keeps a failover client's <see cref="StandbyLink"/> open for its current session, on another node than the session's:
/// opened at once, replaced whenever it is lost (at a random moment within <see cref="Hosting.ProxyOptions.StandbySpread"/>, so a
/// lost node's clients do not all ask at once), with backoff while the gateway has no other node. It also remembers the
/// groups the client joined, which every standby joins too.
/// </summary>
internal sealed class StandbyKeeper(ProxyRuntime runtime, FailoverServices services, string userId, string forwardedFor, MirrorWindow window, CancellationToken sessionEnds)
{
    private readonly HashSet<string> _groups = new(StringComparer.Ordinal);
    private StandbyLink? _standby;
    private CancellationTokenSource? _keeping;

    /// <summary>The standby's copies, matched against what the client is given.</summary>
    public MirrorWindow Window => window;

    /// <summary>The standby now, or null while there is none.</summary>
    public StandbyLink? Current => Volatile.Read(ref _standby);

    /// <summary>
    /// Keeps a standby for <paramref name="session"/>, placed off the node <paramref name="sessionNode"/> names at each
    /// attempt (a drain moves the session between nodes); <paramref name="spread"/> for a replacement, which is not urgent.
    /// </summary>
    public void Keep(string session, Func<string?> sessionNode, bool spread)
    {
        // The keeping this replaces was stopped by TakeAsync; it is not disposed while its loop may still be ending.
        var keeping = CancellationTokenSource.CreateLinkedTokenSource(sessionEnds);
        Volatile.Write(ref _keeping, keeping);
        _ = KeepAsync(session, sessionNode, spread, keeping.Token);
    }

    /// <summary>A client's <c>join</c> or <c>leave</c>: remembered for the next standby, and sent to this one.</summary>
    public Task MirrorAsync(string type, string group)
    {
        lock (_groups)
        {
            if (type == FailoverFrames.Join)
            {
                _groups.Add(group);
            }
            else
            {
                _groups.Remove(group);
            }
        }
        return Current is { } standby ? standby.MirrorAsync(FailoverFrames.Membership(type, group)) : Task.CompletedTask;
    }

    /// <summary>When the session moved onto the standby's own node, the standby gives way (and is replaced elsewhere).</summary>
    public void GiveWay(string sessionNode)
    {
        if (Current is { } standby && standby.Node == sessionNode)
        {
            _ = standby.CloseAsync();
        }
    }

    /// <summary>Stops keeping and hands over the standby, to be promoted; null when there is none.</summary>
    public async Task<StandbyLink?> TakeAsync()
    {
        if (Interlocked.Exchange(ref _standby, null) is not { } standby)
        {
            return null;
        }
        if (Volatile.Read(ref _keeping) is { } keeping)
        {
            await keeping.CancelAsync().ConfigureAwait(false);
        }
        return standby;
    }

    /// <summary>The session ended: the standby's session ends too (1000).</summary>
    public async Task CloseAsync()
    {
        var keeping = Volatile.Read(ref _keeping);
        if (keeping is not null)
        {
            await keeping.CancelAsync().ConfigureAwait(false);
        }
        if (Interlocked.Exchange(ref _standby, null) is { } standby)
        {
            await standby.CloseAsync().ConfigureAwait(false);
        }
    }

    private async Task KeepAsync(string session, Func<string?> sessionNode, bool spread, CancellationToken token)
    {
        var options = runtime.Settings.Options;
        var delay = TimeSpan.FromMilliseconds(200);
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (spread)
                {
                    await Task.Delay(options.StandbySpread * Random.Shared.NextDouble(), runtime.Time, token).ConfigureAwait(false);
                }
                spread = true;
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
                attempt.CancelAfter(options.HandshakeTimeout);
                var node = sessionNode() ?? throw new InvalidOperationException("the session's node is not known");
                var standby = await StandbyLink.OpenAsync(runtime, services, userId, session, node, forwardedFor, Groups, window, attempt.Token).ConfigureAwait(false);
                if (token.IsCancellationRequested)
                {
                    await standby.CloseAsync().ConfigureAwait(false);
                    return;
                }
                Volatile.Write(ref _standby, standby);
                ProxyLog.StandbyOpened(runtime.Logger, standby.Session, session, standby.Node);
                delay = TimeSpan.FromMilliseconds(200);
                await standby.Gone.WaitAsync(token).ConfigureAwait(false);
                // Lost (its node went or drains): replaced, unless it was taken for a promotion meanwhile.
                Interlocked.CompareExchange(ref _standby, null, standby);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (GatewayRefusedException e)
            {
                services.Gateway.ReportRefusal(e);
            }
            catch (Exception e) when (e is HttpRequestException or WebSocketException or TimeoutException or IOException or OperationCanceledException
                                      or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FrameTooLargeException)
            {
                ProxyLog.StandbyFailed(runtime.Logger, session, e.Message);
            }
            try
            {
                await Task.Delay(delay, runtime.Time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    private IReadOnlyCollection<string> Groups()
    {
        lock (_groups)
        {
            return [.. _groups];
        }
    }
}
