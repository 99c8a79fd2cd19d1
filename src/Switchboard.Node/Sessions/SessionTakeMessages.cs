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

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SessionTakeRequest))]
[JsonSerializable(typeof(SessionTakeResponse))]
internal sealed partial class SessionJsonContext : JsonSerializerContext;

/// <summary>Wire names of the hand-over, defined once.</summary>
internal static class SessionTakeMessages
{
    public const string Kind = "session.take";
    public const string Taken = "taken";
    public const string Unknown = "unknown";
    public const string Forbidden = "forbidden";
    public const string Ahead = "ahead";
}
