namespace Switchboard.Protocol;

/// <summary>The <c>code</c> values of <c>error</c> frames and failed <c>reply</c> frames.</summary>
public static class ErrorCodes
{
    /// <summary>The text frame is not valid UTF-8 JSON, or not a JSON object.</summary>
    public const string BadJson = "bad_json";

    /// <summary>A binary frame arrived; protocol v1 uses text frames only.</summary>
    public const string BinaryNotSupported = "binary_not_supported";

    /// <summary>The <c>type</c> field is missing or not a string.</summary>
    public const string MissingType = "missing_type";

    /// <summary>The <c>type</c> is not a client command of protocol v1.</summary>
    public const string UnknownType = "unknown_type";

    /// <summary>A required field is missing.</summary>
    public const string MissingField = "missing_field";

    /// <summary>A field has the wrong JSON type or an out-of-range value.</summary>
    public const string InvalidField = "invalid_field";

    /// <summary>The <c>to</c> field is not <c>user:</c>, <c>conn:</c>, <c>group:</c> followed by a name, or <c>all</c>.</summary>
    public const string BadTarget = "bad_target";

    /// <summary>A <c>join</c> would put the connection in more groups than the node allows.</summary>
    public const string TooManyGroups = "too_many_groups";

    /// <summary>The connection sent more commands than its rate limit allows; the command was not carried out.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>The session could not be looked up (the backplane failed); the connection continues as a new session.</summary>
    public const string ResumeUnavailable = "resume_unavailable";

    /// <summary><c>resume</c> came after other frames, or on a connection whose ticket did not ask to resume.</summary>
    public const string ResumeNotFirst = "resume_not_first";

    /// <summary>No node holds the session any more (its grace time passed, or its node died); the connection continues as a new session.</summary>
    public const string UnknownSession = "unknown_session";

    /// <summary>The session belongs to another user, or is not the session of this connection's ticket.</summary>
    public const string SessionForbidden = "session_forbidden";

    /// <summary>The node could not carry out the command (for example the backplane is unreachable).</summary>
    public const string Unavailable = "unavailable";
}
