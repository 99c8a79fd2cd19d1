using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Cluster;
using Switchboard.Node.Connections;
using Switchboard.Node.Hubs;
using Switchboard.Protocol;

namespace Switchboard.Node.Sessions;

/// <summary>
/// The sessions of one node and their moves. A session whose client went away without a goodbye is kept (detached)
/// for <see cref="NodeOptions.SessionGraceTime"/>: its user stays routed here and its messages are buffered. A
/// resuming connection takes its session from whichever node holds it — this one, or another over the backplane —
/// gets the missed messages first, and the old holder forwards stragglers for <see cref="NodeOptions.ResumeForwardTime"/>
/// before it lets the user go, so nothing routed during the move is lost; copies that arrive twice are dropped by id,
/// and a <see cref="HandOverFence"/> on the new connection keeps the forwarded and the direct path in per-sender order.
/// </summary>
internal sealed class SessionStore(
    string nodeId, NodeOptions options, IBackplane backplane, ClusterView cluster,
    HubMembership membership, TimeProvider time, ILogger logger)
{
    private readonly ConcurrentDictionary<string, ClientConnection> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ClientConnection, byte> _kept = new();
    private readonly Lock _dropLock = new();
    // Set by DropAllAsync: a stopped node keeps nothing, not even a close settled after it (a take that outlasted the stop).
    private bool _dropped;

    /// <summary>Sessions kept without a live client: detached, or handed over and still forwarding.</summary>
    public int KeptCount => _kept.Count;

    /// <summary>True while <paramref name="connection"/>'s session is kept: detached, or handed over and still forwarding.</summary>
    public bool IsKept(ClientConnection connection) => _kept.ContainsKey(connection);

    /// <summary>Makes a welcomed connection's session resumable.</summary>
    public void Register(ClientConnection connection) => _sessions[connection.SessionId] = connection;

    /// <summary>
    /// Called when a connection closes; true when its session is kept for a resume (the connection stays in the hub),
    /// false when it should leave now.
    /// </summary>
    public bool TryKeep(ClientConnection connection, CloseReason reason, bool nodeStopping)
    {
        if (connection.Mode == ClientConnection.SessionMode.Forwarding)
        {
            // Handed over: its removal is already scheduled.
            return true;
        }
        var keep = options.SessionGraceTime > TimeSpan.Zero && !nodeStopping && connection.Mode != ClientConnection.SessionMode.AwaitingResume &&
            reason switch
            {
                CloseReason.Aborted or CloseReason.SlowConsumer or CloseReason.InternalError => true,
                CloseReason.ClientClosed or CloseReason.NodeShutdown => connection.Moving,
                _ => false,
            };
        lock (_dropLock)
        {
            if (!keep || _dropped)
            {
                _sessions.TryRemove(new KeyValuePair<string, ClientConnection>(connection.SessionId, connection));
                return false;
            }
            connection.Detach();
            _kept[connection] = 0;
        }
        After(options.SessionGraceTime, () =>
        {
            if (_sessions.TryRemove(new KeyValuePair<string, ClientConnection>(connection.SessionId, connection)) &&
                connection.Mode == ClientConnection.SessionMode.Detached)
            {
                _kept.TryRemove(connection, out _);
                _ = membership.RemoveAsync(connection, CloseReason.SessionExpired);
            }
        });
        return true;
    }

    /// <summary>Drops every kept session at once (the node is stopping); from now on none is kept.</summary>
    public async Task DropAllAsync()
    {
        lock (_dropLock)
        {
            _dropped = true;
        }
        foreach (var connection in _kept.Keys)
        {
            _kept.TryRemove(connection, out _);
            await membership.RemoveAsync(connection, CloseReason.NodeShutdown).ConfigureAwait(false);
        }
        _sessions.Clear();
    }

    /// <summary>Answers another node's <see cref="SessionTakeMessages.Kind"/> request.</summary>
    public byte[] AnswerTake(ReadOnlyMemory<byte> body)
    {
        var request = JsonSerializer.Deserialize(body.Span, SessionJsonContext.Default.SessionTakeRequest)
            ?? throw new FormatException("empty session.take request");
        var target = new Target(TargetKind.Connection, request.ConnectionId);
        var response = Take(request.Session, request.UserId, request.LastSeq,
            message => _ = BestEffort.RunAsync(() => backplane.SendAsync(request.NodeId, message.WithTarget(target), CancellationToken.None)));
        return JsonSerializer.SerializeToUtf8Bytes(response, SessionJsonContext.Default.SessionTakeResponse);
    }

    private SessionTakeResponse Take(string session, string userId, long lastSeq, Action<RoutedMessage> forward)
    {
        if (!_sessions.TryGetValue(session, out var old))
        {
            return new SessionTakeResponse(SessionTakeMessages.Unknown, 0, null, null, null);
        }
        if (!string.Equals(old.UserId, userId, StringComparison.Ordinal))
        {
            return new SessionTakeResponse(SessionTakeMessages.Forbidden, 0, null, null, null);
        }
        if (old.HandOver(lastSeq, forward) is not { } handed)
        {
            return new SessionTakeResponse(SessionTakeMessages.Ahead, 0, null, null, null);
        }
        _sessions.TryRemove(new KeyValuePair<string, ClientConnection>(session, old));
        _kept[old] = 0;
        // A client that still had this connection open (a half-open socket it gave up on) loses it now.
        old.RequestClose(CloseReason.SessionMoved, WebSocketCloseStatus.NormalClosure, "session resumed on another connection", flush: false);
        After(options.ResumeForwardTime, () =>
        {
            _kept.TryRemove(old, out _);
            _ = membership.RemoveAsync(old, CloseReason.SessionMoved);
        });
        var messages = handed.Window.Messages.Select(m => new ReplayedMessage(m.Seq, m.Message.Id, m.Message.From, m.Message.OriginNodeId, m.Message.FramePrefix)).ToList();
        return new SessionTakeResponse(SessionTakeMessages.Taken, handed.CurrentSeq, handed.Window.MissedFrom, handed.Window.MissedTo, messages);
    }

    /// <summary>
    /// Carries out the first command of a connection opened with a resume ticket: takes the session from where it is
    /// and welcomes the connection as its continuation, or, when that fails, as a new session with the reason. A close
    /// while the session is taken is left to the caller (<see cref="ClientConnection.EndTake"/>): a connection that took
    /// its session holds it, and the close then keeps it or lets it go like any other; one that took none never starts one.
    /// </summary>
    public async Task ResumeAsync(ClientConnection connection, ClientCommand command)
    {
        if (!connection.BeginTake())
        {
            // Closed before its resume came: the session stays where it is.
            return;
        }
        var (response, fromNode, failure) = string.Equals(command.Session, connection.SessionId, StringComparison.Ordinal)
            ? await FindAndTakeAsync(connection, command.Seq).ConfigureAwait(false)
            : (null, null, new ProtocolError(ErrorCodes.SessionForbidden, "'session' is not the session this connection's ticket was issued for"));
        if (response is null)
        {
            NodeLog.ResumeRefused(logger, connection.SessionId, failure!.Code);
            if (connection.ClosedBecause is not null)
            {
                // No welcome can reach it: a new session would only keep its user routed here for nothing.
                return;
            }
            if (connection.ResumeOnly)
            {
                RefuseResume(connection, $"session not resumed ({failure.Code}); this ticket cannot start a new one");
                return;
            }
            StartFresh(connection, ServerFrames.Rejection(command.Id, failure));
            return;
        }
        var target = new Target(TargetKind.Connection, connection.Id);
        var replayed = (response.Messages ?? [])
            .Select(m => (m.Seq, RoutedMessage.FromFramePrefix(target, m.From, m.Frame, m.Origin, m.Id)))
            .ToList();
        var welcome = ServerFrames.ResumedWelcome(connection.Id, connection.UserId, nodeId, connection.SessionId, replayed.Count, response.MissedFrom, response.MissedTo);
        // The old node forwards for ResumeForwardTime from its take, which came before this; the margin covers what it
        // forwarded last and is still on its way. Copies are dropped for longer than anything is held.
        var fence = fromNode == nodeId ? (TimeSpan?)null : options.ResumeForwardTime * 1.5;
        connection.CompleteResume(welcome, command.Id is { } id ? ServerFrames.ReplyOk(id) : null, replayed, response.CurrentSeq,
            options.ResumeForwardTime * 2, fence);
        Register(connection);
        NodeLog.SessionResumed(logger, connection.SessionId, connection.UserId, connection.Id, fromNode!, replayed.Count,
            response.MissedFrom is { } from ? $"{from}..{response.MissedTo}" : "none");
    }

    /// <summary>Closes a connection opened with a resume-only ticket that did not resume its session: 1008, no welcome.</summary>
    public void RefuseResume(ClientConnection connection, string reason) =>
        connection.RequestClose(CloseReason.ResumeRefused, (WebSocketCloseStatus)CloseCodes.PolicyViolation, reason, flush: true);

    /// <summary>Welcomes a connection opened with a resume ticket as a new session (it did not start with <c>resume</c>, or the resume failed).</summary>
    public void StartFresh(ClientConnection connection, byte[]? afterWelcome = null)
    {
        var session = NewSessionId();
        connection.StartFresh(session, ServerFrames.Welcome(connection.Id, connection.UserId, nodeId, session, resumed: false), afterWelcome);
        Register(connection);
    }

    private async Task<(SessionTakeResponse? Response, string? FromNode, ProtocolError? Failure)> FindAndTakeAsync(ClientConnection connection, long lastSeq)
    {
        var session = connection.SessionId;
        if (_sessions.TryGetValue(session, out var local) && !ReferenceEquals(local, connection))
        {
            // Reconnected to the same node: hand over without the backplane.
            return Outcome(Take(session, connection.UserId, lastSeq, message => connection.TryEnqueue(message)), nodeId);
        }
        var request = JsonSerializer.SerializeToUtf8Bytes(new SessionTakeRequest(session, connection.UserId, lastSeq, nodeId, connection.Id), SessionJsonContext.Default.SessionTakeRequest);
        var answers = await AskCandidatesAsync(connection.UserId, SessionTakeMessages.Kind, request, SessionJsonContext.Default.SessionTakeResponse).ConfigureAwait(false);
        foreach (var (candidate, response, _) in answers)
        {
            if (response?.Status == SessionTakeMessages.Taken)
            {
                return Outcome(response, candidate);
            }
        }
        foreach (var (candidate, response, _) in answers)
        {
            if (response is { Status: SessionTakeMessages.Forbidden or SessionTakeMessages.Ahead })
            {
                return Outcome(response, candidate);
            }
        }
        if (answers.Any(a => a.Failed))
        {
            return (null, null, new ProtocolError(ErrorCodes.ResumeUnavailable, "the session's node could not be reached; the connection continues as a new session"));
        }
        return (null, null, new ProtocolError(ErrorCodes.UnknownSession, "no node holds this session any more; the connection continues as a new session"));
    }

    /// <summary>The other nodes that may hold a session of <paramref name="userId"/>.</summary>
    private (string Node, bool Silent)[] Candidates(string userId)
    {
        // A kept session keeps its user present on its node, so the directory names every candidate. A directory that
        // lost the user would make the session look gone: then every node is asked. A node evicted for silence stays
        // named for a while but is not asked (it would not answer before the timeout); it counts as unreachable.
        var named = cluster.Directory.GetNodes(userId).Where(n => n != nodeId).Select(n => (Node: n, Silent: cluster.IsSilent(n))).ToArray();
        return named.Any(c => !c.Silent)
            ? named
            : [.. named, .. cluster.Nodes.Select(n => n.Heartbeat.NodeId).Where(n => n != nodeId).Select(n => (n, false))];
    }

    /// <summary>Answers another node's <see cref="SessionTakeMessages.CheckKind"/> request.</summary>
    public byte[] AnswerCheck(ReadOnlyMemory<byte> body)
    {
        var request = JsonSerializer.Deserialize(body.Span, SessionJsonContext.Default.SessionCheckRequest)
            ?? throw new FormatException("empty session.check request");
        return JsonSerializer.SerializeToUtf8Bytes(new SessionCheckResponse(Check(request.Session, request.UserId)), SessionJsonContext.Default.SessionCheckResponse);
    }

    private string Check(string session, string userId) =>
        !_sessions.TryGetValue(session, out var held) ? SessionTakeMessages.Unknown
        : string.Equals(held.UserId, userId, StringComparison.Ordinal) ? SessionTakeMessages.Live
        : SessionTakeMessages.Forbidden;

    /// <summary>
    /// True when this node or another holds <paramref name="session"/> for <paramref name="userId"/>: the condition on
    /// which a standby ticket opens a session. A standby ticket comes from a proxy key, which must not buy a session of
    /// a user who has none.
    /// </summary>
    public async Task<bool> IsHeldAsync(string session, string userId)
    {
        if (_sessions.ContainsKey(session))
        {
            return Check(session, userId) == SessionTakeMessages.Live;
        }
        var request = JsonSerializer.SerializeToUtf8Bytes(new SessionCheckRequest(session, userId), SessionJsonContext.Default.SessionCheckRequest);
        var answers = await AskCandidatesAsync(userId, SessionTakeMessages.CheckKind, request, SessionJsonContext.Default.SessionCheckResponse).ConfigureAwait(false);
        return answers.Any(a => a.Response?.Status == SessionTakeMessages.Live);
    }

    /// <summary>
    /// Sends <paramref name="request"/> to every other node that may hold a session of <paramref name="userId"/>, at once.
    /// Each answer comes back decoded, or null with <c>Failed</c> when the node exists but did not answer usably (a node
    /// that is not there at all is no failure: it holds nothing).
    /// </summary>
    private async Task<(string Candidate, T? Response, bool Failed)[]> AskCandidatesAsync<T>(string userId, string kind, byte[] request, JsonTypeInfo<T> answer)
        where T : class =>
        await Task.WhenAll(Candidates(userId).Select(async c =>
        {
            var candidate = c.Node;
            if (c.Silent)
            {
                return (candidate, (T?)null, true);
            }
            try
            {
                var body = await backplane.RequestAsync(candidate, kind, request, options.ResumeRequestTimeout).ConfigureAwait(false);
                return (candidate, JsonSerializer.Deserialize(body, answer), false);
            }
            catch (Exception e) when (e is BackplaneRequestException or JsonException)
            {
                return (candidate, (T?)null, e is not BackplaneRequestException { Failure: BackplaneRequestFailure.NoSuchNode });
            }
        })).ConfigureAwait(false);

    private static (SessionTakeResponse?, string?, ProtocolError?) Outcome(SessionTakeResponse response, string fromNode) => response.Status switch
    {
        SessionTakeMessages.Taken => (response, fromNode, null),
        SessionTakeMessages.Forbidden => (null, null, new ProtocolError(ErrorCodes.SessionForbidden, "the session belongs to another user; the connection continues as a new session")),
        SessionTakeMessages.Ahead => (null, null, new ProtocolError(ErrorCodes.InvalidField, "'lastSeq' is ahead of the session; the connection continues as a new session")),
        _ => (null, null, new ProtocolError(ErrorCodes.UnknownSession, "no node holds this session any more; the connection continues as a new session")),
    };

    private void After(TimeSpan delay, Action action)
    {
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            timer?.Dispose();
            action();
        }, null, delay, Timeout.InfiniteTimeSpan);
    }

    private static string NewSessionId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
}
