using System.Diagnostics;
using System.Net;
using System.Runtime;
using System.Text;
using Switchboard.Bench.Load;

namespace Switchboard.Bench.Workers;

/// <summary>The clients of one worker, in this process.</summary>
internal sealed class BenchWorker : IBenchWorker
{
    private readonly WorkerMeters _meters = new();
    private readonly Dictionary<int, BenchClient> _clients = [];
    private readonly Lock _lock = new();
    private ClientTarget? _target;
    private CancellationTokenSource? _traffic;
    private Pacer? _pacer;
    private Task _senders = Task.CompletedTask;

    public async Task<WarmUpReport> WarmUpAsync(WarmUpOrder order, CancellationToken cancellationToken)
    {
        var source = order.SourceAddress is null ? null : IPAddress.Parse(order.SourceAddress);
        // Its own meters, so the warm-up's handshakes and failures stay out of every figure; the target is the one the
        // connect phase uses next, so its pooled connections to the gateway are warm too (retries are counted per phase).
        var target = _target ??= new ClientTarget(order.Target, source);
        var meters = new WorkerMeters();
        var deadline = Stopwatch.GetTimestamp() + (long)(order.Duration.TotalSeconds * Stopwatch.Frequency);
        long opened = 0, failed = 0, next = 0;
        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, order.Concurrency)).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
            {
                var index = (int)Interlocked.Increment(ref next);
                try
                {
                    await using var client = await BenchClient.ConnectAsync(target, index, $"{order.UserPrefix}{index}", source, meters, followMoves: false, cancellationToken).ConfigureAwait(false);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await client.CloseAsync(timeout.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref opened);
                }
                catch (Exception e) when (e is BenchConnectException || FailedToConnect(e))
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }, CancellationToken.None))).ConfigureAwait(false);
        return new WarmUpReport(opened, failed);
    }

    public async Task<ConnectReport> ConnectAsync(ConnectOrder order, CancellationToken cancellationToken)
    {
        var source = order.SourceAddress is null ? null : IPAddress.Parse(order.SourceAddress);
        _target ??= new ClientTarget(order.Target, source);
        var retries = _target.Retries;
        var started = Stopwatch.GetTimestamp();
        var jitMethods = JitInfo.GetCompiledMethodCount();
        var jitTime = JitInfo.GetCompilationTime();
        var connected = new List<ConnectedClient>(order.Count);
        await Parallel.ForAsync(order.FirstIndex, order.FirstIndex + order.Count,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, order.Concurrency), CancellationToken = cancellationToken },
            async (index, ct) =>
            {
                var userId = $"{order.UserPrefix}{index}";
                try
                {
                    var client = await BenchClient.ConnectAsync(_target, index, userId, source, _meters, order.FollowMoves, ct).ConfigureAwait(false);
                    lock (_lock)
                    {
                        _clients[index] = client;
                        connected.Add(new ConnectedClient(index, userId, client.NodeId));
                    }
                }
                catch (BenchConnectException e)
                {
                    _meters.CountFailure(e.Reason);
                }
                catch (Exception e) when (FailedToConnect(e))
                {
                    _meters.CountFailure(e.GetType().Name.ToLowerInvariant());
                }
            }).ConfigureAwait(false);
        return new ConnectReport(connected, Stopwatch.GetElapsedTime(started).TotalSeconds, _target.Retries - retries,
            JitInfo.GetCompiledMethodCount() - jitMethods, (JitInfo.GetCompilationTime() - jitTime).TotalSeconds);
    }

    public async Task JoinAsync(JoinOrder order, CancellationToken cancellationToken)
    {
        var members = order.Members.Select(Client).OfType<BenchClient>().ToList();
        await Parallel.ForEachAsync(members, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, order.Concurrency), CancellationToken = cancellationToken },
            async (client, ct) =>
            {
                if (_target!.SpeaksProtocol)
                {
                    await client.JoinAsync(order.Group, ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }

    public Task StartTrafficAsync(TrafficOrder order, CancellationToken cancellationToken)
    {
        _meters.ResetLatency();
        // At least two messages in flight, however many recipients each has, so that sending and delivering overlap.
        _traffic = new CancellationTokenSource();
        var senders = order.Senders.Select(s => (Client: Client(s.Index), s.To)).Where(s => s.Client is not null).ToList();
        // Each sender gets an even share of the window (at least two messages), so no receiver gets more than its share.
        var window = Math.Max(order.Window, 2L * order.LocalRecipients);
        _meters.Window = order.RatePerSender == 0 && order.Window > 0 && order.LocalRecipients > 0
            ? new FlowWindow(window, order.LocalRecipients, Math.Max(2L * order.LocalRecipients, window / Math.Max(1, senders.Count)))
            : null;
        var pacer = _pacer = order.RatePerSender > 0 ? new Pacer() : null;
        _senders = Task.WhenAll(senders.Select(s => Task.Run(() => SendLoopAsync(s.Client!, s.To, order.RatePerSender, order.PaddingBytes, _meters, pacer, _traffic.Token), CancellationToken.None)));
        return Task.CompletedTask;
    }

    public async Task StopTrafficAsync(CancellationToken cancellationToken)
    {
        if (_traffic is null)
        {
            return;
        }
        await _traffic.CancelAsync().ConfigureAwait(false);
        await _senders.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _pacer?.Dispose();
    }

    public Task ResetLatencyAsync(CancellationToken cancellationToken)
    {
        _meters.ResetLatency();
        return Task.CompletedTask;
    }

    public Task<WorkerProgress> ProgressAsync(CancellationToken cancellationToken)
    {
        List<BenchClient> clients;
        lock (_lock)
        {
            clients = [.. _clients.Values];
        }
        long sent = 0, delivered = 0, duplicates = 0;
        var open = 0;
        var byNode = new Dictionary<string, int>();
        foreach (var c in clients)
        {
            sent += Interlocked.Read(ref c.Sent);
            delivered += c.Delivered;
            duplicates += c.Duplicates;
            if (c.IsOpen)
            {
                open++;
                if (c.NodeId is { } node)
                {
                    byNode[node] = byNode.GetValueOrDefault(node) + 1;
                }
            }
        }
        return Task.FromResult(new WorkerProgress(open, sent, delivered, duplicates, _meters.Errors.Values.Sum(), _meters.Closes.Values.Sum(),
            _meters.Moves, _meters.Resumed, _meters.NotResumed, _meters.Missed, byNode, _meters.Refused));
    }

    public async Task<WorkerResult> ResultAsync(CancellationToken cancellationToken)
    {
        var totals = await ProgressAsync(cancellationToken).ConfigureAwait(false);
        return new WorkerResult(totals, _meters.Handshake.ToSnapshot(), _meters.Latency.ToSnapshot(), _meters.Moved.ToSnapshot(),
            new Dictionary<string, long>(_meters.ConnectFailures), new Dictionary<string, long>(_meters.Errors), new Dictionary<string, long>(_meters.Closes),
            _meters.SendLag.ToSnapshot(), _meters.LatencyFromDue.ToSnapshot());
    }

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        List<BenchClient> clients;
        lock (_lock)
        {
            clients = [.. _clients.Values];
        }
        await Parallel.ForEachAsync(clients, new ParallelOptions { MaxDegreeOfParallelism = 256, CancellationToken = cancellationToken },
            async (client, ct) =>
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await client.CloseAsync(timeout.Token).ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _traffic?.Cancel();
        await _senders.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        List<BenchClient> clients;
        lock (_lock)
        {
            clients = [.. _clients.Values];
            _clients.Clear();
        }
        foreach (var client in clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        _pacer?.Dispose();
        _target?.Dispose();
        _traffic?.Dispose();
    }

    /// <summary>What a dial, a placement or a handshake throws when the other side fails it (beside <see cref="BenchConnectException"/>).</summary>
    private static bool FailedToConnect(Exception e) =>
        e is System.Net.WebSockets.WebSocketException or IOException or HttpRequestException or System.Text.Json.JsonException;

    private BenchClient? Client(int index)
    {
        lock (_lock)
        {
            return _clients.GetValueOrDefault(index);
        }
    }

    /// <summary>
    /// Sends at a steady rate: message k is due at start + k/rate, and a sender that fell behind catches up at once, so
    /// the offered load does not sag when the system slows (open loop). Rate 0 sends back to back, within the window.
    /// </summary>
    private static async Task SendLoopAsync(BenchClient client, string to, double rate, int padding, WorkerMeters meters, Pacer? pacer, CancellationToken cancellationToken)
    {
        var window = meters.Window;
        var sinceYield = 0;
        var toBytes = Encoding.UTF8.GetBytes(to);
        var buffer = new byte[Payload.MaxLength(to, padding)];
        var started = Stopwatch.GetTimestamp();
        long number = 0;
        // Spread the senders' first messages over one interval so they do not all fire together.
        var offset = rate > 0 ? Random.Shared.NextDouble() / rate : 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                long due = 0;
                if (pacer is not null)
                {
                    due = started + (long)((offset + (number / rate)) * Stopwatch.Frequency);
                    if (Stopwatch.GetTimestamp() < due)
                    {
                        await pacer.WaitUntilAsync(due, cancellationToken).ConfigureAwait(false);
                        sinceYield = 0;
                    }
                }
                else if (window is not null)
                {
                    await window.WaitAsync(client.Index, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                    window.OnSent(client.Index);
                }
                // Sends to a socket with room complete synchronously: yield now and then, or back-to-back senders
                // would hold every pool thread and starve the receive loops in this same process. A paced sender that
                // has fallen behind runs on the pacer's thread, which every other paced sender waits for: it leaves
                // for the pool sooner.
                if (++sinceYield == (pacer is null ? 32 : 4))
                {
                    sinceYield = 0;
                    await Task.Yield();
                }
                number++;
                var sentAt = Stopwatch.GetTimestamp();
                if (pacer is not null)
                {
                    meters.SendLag.Record((sentAt - due) * 1_000_000 / Stopwatch.Frequency);
                }
                var length = Payload.Write(buffer, toBytes, client.Index, number, sentAt, padding, due);
                // Never cancel a send half-way: a cancelled WebSocket send aborts the connection.
                await client.SendAsync(buffer.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
                Interlocked.Increment(ref client.Sent);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or IOException or ObjectDisposedException or TimeoutException or BenchConnectException)
        {
            // The connection ended under the sender, or its client could not move in time: its close or failed move is
            // counted by the receive loop, and this sender stops.
        }
    }
}
