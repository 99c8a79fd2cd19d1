using System.Text.Json.Serialization;

namespace Switchboard.Node.Sessions;

/// <summary>A resuming node asks the session's node for it (backplane request <see cref="SessionTakeMessages.Kind"/>).</summary>
/// <param name="Session">The session to take.</param>
/// <param name="UserId">The user of the resuming connection; the session must be theirs.</param>
/// <param name="LastSeq">The last seq the client processed.</param>
/// <param name="NodeId">The resuming node, where later messages are forwarded.</param>
/// <param name="ConnectionId">The resuming connection, the target of forwarded messages.</param>
internal sealed record SessionTakeRequest(string Session, string UserId, long LastSeq, string NodeId, string ConnectionId);

/// <summary>The answer: <see cref="Status"/> is one of <see cref="SessionTakeMessages"/>' statuses.</summary>
internal sealed record SessionTakeResponse(string Status, long CurrentSeq, long? MissedFrom, long? MissedTo, List<ReplayedMessage>? Messages);

/// <summary>One message the client missed, with the seq it had in the session.</summary>
internal sealed record ReplayedMessage(long Seq, long Id, string From, string? Origin, byte[] Frame);

/// <summary>
/// A node about to welcome a standby connection asks whether the session it stands by is live (backplane request
/// <see cref="SessionTakeMessages.CheckKind"/>).
/// </summary>
/// <param name="Session">The session the standby stands by.</param>
/// <param name="UserId">The standby's user; the session must be theirs.</param>
internal sealed record SessionCheckRequest(string Session, string UserId);

/// <summary>The answer: <see cref="SessionTakeMessages.Live"/>, <see cref="SessionTakeMessages.Unknown"/> or <see cref="SessionTakeMessages.Forbidden"/>.</summary>
internal sealed record SessionCheckResponse(string Status);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SessionTakeRequest))]
[JsonSerializable(typeof(SessionTakeResponse))]
[JsonSerializable(typeof(SessionCheckRequest))]
[JsonSerializable(typeof(SessionCheckResponse))]
internal sealed partial class SessionJsonContext : JsonSerializerContext;

/// <summary>Wire names of the hand-over, defined once.</summary>
internal static class SessionTakeMessages
{
    public const string Kind = "session.take";
    public const string CheckKind = "session.check";
    public const string Live = "live";
    public const string Taken = "taken";
    public const string Unknown = "unknown";
    public const string Forbidden = "forbidden";
    public const string Ahead = "ahead";
}
