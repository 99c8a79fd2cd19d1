namespace Switchboard.Client;

/// <summary>Why a <see cref="SwitchboardException"/> was thrown.</summary>
public enum SwitchboardErrorReason
{
    /// <summary>The gateway refused the credentials (401 or 403). Permanent: the client does not retry.</summary>
    Unauthorized,

    /// <summary>The gateway refused the request for good (another 4xx, for example a bad dev-mode user id).</summary>
    Rejected,

    /// <summary>No node could be reached within <see cref="SwitchboardClientOptions.MaxConnectAttempts"/> attempts.</summary>
    Unavailable,

    /// <summary>The connection dropped while the command was in flight. The command may or may not have been carried out; it is not re-sent.</summary>
    ConnectionLost,

    /// <summary>No reply came within <see cref="SwitchboardClientOptions.CommandTimeout"/>.</summary>
    Timeout,

    /// <summary>The node answered the command with <c>ok:false</c>; see <see cref="SwitchboardCommandException"/>.</summary>
    CommandFailed,

    /// <summary><see cref="SwitchboardClient.ConnectAsync"/> has not succeeded yet.</summary>
    NotConnected,

    /// <summary>The client is closed: disposed, refused by the gateway, or disconnected with auto-reconnect off.</summary>
    Closed,

    /// <summary>The gateway or the node answered something protocol v1 does not allow.</summary>
    ProtocolViolation,
}

/// <summary>An expected failure of the Switchboard client, with a <see cref="Reason"/>.</summary>
public class SwitchboardException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SwitchboardException(SwitchboardErrorReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Creates the exception with the gateway's answer.</summary>
    public SwitchboardException(SwitchboardErrorReason reason, string message, int? httpStatus, string? code, Exception? innerException = null)
        : this(reason, message, innerException)
    {
        HttpStatus = httpStatus;
        Code = code;
    }

    /// <summary>Why the operation failed.</summary>
    public SwitchboardErrorReason Reason { get; }

    /// <summary>The gateway's HTTP status, for gateway refusals.</summary>
    public int? HttpStatus { get; }

    /// <summary>The machine-readable code from the gateway (<c>invalid_token</c>, …) or the node (<c>bad_target</c>, …), when there is one.</summary>
    public string? Code { get; }
}

/// <summary>The node answered a command with <c>ok:false</c>.</summary>
public sealed class SwitchboardCommandException : SwitchboardException
{
    /// <summary>Creates the exception.</summary>
    public SwitchboardCommandException(string command, string code, string message)
        : base(SwitchboardErrorReason.CommandFailed, $"The node refused '{command}': {code}: {message}", httpStatus: null, code)
    {
        Command = command;
        NodeMessage = message;
    }

    /// <summary>The command type: <c>send</c>, <c>join</c>, <c>leave</c> or <c>ping</c>.</summary>
    public string Command { get; }

    /// <summary>One of <see cref="Switchboard.Protocol.ErrorCodes"/>, for example <c>bad_target</c>.</summary>
    public new string Code => base.Code!;

    /// <summary>The node's human-readable message.</summary>
    public string NodeMessage { get; }
}
