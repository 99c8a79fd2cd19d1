using Switchboard.Bench.Load;
using Switchboard.Bench.Measurement;

namespace Switchboard.Bench.Workers;

/// <summary>Open <see cref="Count"/> clients, users <c>{UserPrefix}{FirstIndex…}</c>, from <see cref="SourceAddress"/>.</summary>
/// <param name="Target">Where the clients connect.</param>
/// <param name="FirstIndex">The global index of the first client.</param>
/// <param name="Count">How many clients to open.</param>
/// <param name="UserPrefix">The user id prefix; the client index follows it.</param>
/// <param name="SourceAddress">The local address the sockets bind to, or null for the system's choice.</param>
/// <param name="Concurrency">How many handshakes are in flight at once.</param>
/// <param name="FollowMoves">Whether clients follow <c>reconnect</c> frames and lost connections by resuming their session elsewhere.</param>
public sealed record ConnectOrder(TargetSpec Target, int FirstIndex, int Count, string UserPrefix, string? SourceAddress, int Concurrency, bool FollowMoves = false);

/// <summary>
/// Opens and closes throwaway clients for <see cref="Duration"/>, <see cref="Concurrency"/> at a time, so that the
/// processes under test have compiled their connect paths before the measured burst. Counted nowhere else.
/// </summary>
public sealed record WarmUpOrder(TargetSpec Target, string UserPrefix, string? SourceAddress, int Concurrency, TimeSpan Duration);

/// <summary>What a warm-up opened (and closed again) and how many of its attempts failed.</summary>
public sealed record WarmUpReport(long Opened, long Failed);

/// <summary>Each client opened: its global index, user and the node that welcomed it.</summary>
public sealed record ConnectedClient(int Index, string UserId, string? NodeId);

/// <summary>
/// What a connect phase achieved; <see cref="Retries"/> counts gateway 503s asked again, as real clients do.
/// <see cref="JitMethods"/> and <see cref="JitSeconds"/> are what the worker's runtime compiled meanwhile (tier-ups
/// included): CPU the load generator spent on itself rather than on connecting.
/// </summary>
public sealed record ConnectReport(IReadOnlyList<ConnectedClient> Clients, double Seconds, long Retries = 0, long JitMethods = 0, double JitSeconds = 0);

/// <summary>The clients (by global index) that join <see cref="Group"/>.</summary>
public sealed record JoinOrder(string Group, IReadOnlyList<int> Members, int Concurrency);

/// <summary>One sender: a client (global index) and where its messages go (<c>user:…</c>, <c>group:…</c>).</summary>
public sealed record SenderOrder(int Index, string To);

/// <summary>
/// Start sending: each sender at <see cref="RatePerSender"/> messages per second, or, at rate 0, as fast as the
/// worker's <see cref="Window"/> allows: at most that many deliveries outstanding (sent and not yet received by its own
/// clients, <see cref="LocalRecipients"/> per message), which measures the most the system sustains instead of how deep
/// its queues grow.
/// </summary>
public sealed record TrafficOrder(IReadOnlyList<SenderOrder> Senders, double RatePerSender, int PaddingBytes, int Window = 0, int LocalRecipients = 1);

/// <summary>A worker's running totals, and how many of its clients each node holds now.</summary>
public sealed record WorkerProgress(int Open, long Sent, long Delivered, long Duplicates, long Errors, long Closed,
    long Moves = 0, long Resumed = 0, long NotResumed = 0, long Missed = 0, IReadOnlyDictionary<string, int>? ByNode = null, long Refused = 0);

/// <summary>Everything a worker measured, merged by the coordinator.</summary>
public sealed record WorkerResult(
    WorkerProgress Totals,
    HistogramSnapshot Handshake,
    HistogramSnapshot Latency,
    HistogramSnapshot Moved,
    IReadOnlyDictionary<string, long> ConnectFailures,
    IReadOnlyDictionary<string, long> Errors,
    IReadOnlyDictionary<string, long> Closes,
    HistogramSnapshot? SendLag = null,
    HistogramSnapshot? LatencyFromDue = null);
