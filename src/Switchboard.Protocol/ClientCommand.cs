namespace Switchboard.Protocol;

/// <summary>The client commands of protocol v1.</summary>
public enum ClientCommandType
{
    /// <summary><c>send</c>: deliver <c>data</c> to a target.</summary>
    Send,
    /// <summary><c>join</c>: become a member of a group.</summary>
    Join,
    /// <summary><c>leave</c>: stop being a member of a group.</summary>
    Leave,
    /// <summary><c>resume</c>: continue an earlier session (first frame only).</summary>
    Resume,
    /// <summary><c>ack</c>: everything up to <c>seq</c> has been processed.</summary>
    Ack,
    /// <summary><c>ping</c>: answered with a reply.</summary>
    Ping,
}

/// <summary>
/// One parsed client frame. <see cref="Data"/> points into the receive buffer and is valid only until
/// the handler returns; copy it to keep it.
/// </summary>
public readonly struct ClientCommand
{
    /// <summary>The command.</summary>
    public ClientCommandType Type { get; init; }

    /// <summary>The client's correlation id; a <c>reply</c> echoes it. Null when the client sent none.</summary>
    public string? Id { get; init; }

    /// <summary>The target of a <c>send</c>.</summary>
    public Target Target { get; init; }

    /// <summary>The raw JSON of <c>data</c> of a <c>send</c>, exactly as the client wrote it.</summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>
    /// The idempotency key of a <c>send</c>, or null: sends of one sender with the same key are one message, with one
    /// <c>mid</c> (<see cref="RoutedMessage.IdForKey"/>), however many times they are carried out.
    /// </summary>
    public string? Key { get; init; }

    /// <summary>The group of a <c>join</c> or <c>leave</c>.</summary>
    public string? Group { get; init; }

    /// <summary>The session of a <c>resume</c>.</summary>
    public string? Session { get; init; }

    /// <summary>The <c>lastSeq</c> of a <c>resume</c> or the <c>seq</c> of an <c>ack</c>.</summary>
    public long Seq { get; init; }
}

/// <summary>The outcome of parsing one client frame: a command, or an error with the command's id when it could be read.</summary>
public readonly struct ParseResult
{
    private ParseResult(ClientCommand command, ProtocolError? error, string? id)
    {
        Command = command;
        Error = error;
        Id = id;
    }

    /// <summary>The command, when <see cref="Error"/> is null.</summary>
    public ClientCommand Command { get; }

    /// <summary>Why the frame was rejected, or null.</summary>
    public ProtocolError? Error { get; }

    /// <summary>The frame's <c>id</c>, also when it was rejected, so the node can answer with a <c>reply</c>.</summary>
    public string? Id { get; }

    /// <summary>True when the frame parsed into a command.</summary>
    public bool IsSuccess => Error is null;

    internal static ParseResult Success(ClientCommand command) => new(command, null, command.Id);

    internal static ParseResult Failure(string code, string message, string? id = null) => new(default, new ProtocolError(code, message), id);
}
