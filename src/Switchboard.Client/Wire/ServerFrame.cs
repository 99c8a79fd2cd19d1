namespace Switchboard.Client.Wire;

/// <summary>One parsed node-to-client frame of protocol v1.</summary>
internal abstract record ServerFrame;

/// <summary><c>welcome</c>: the connection is accepted.</summary>
/// <remarks><see cref="MissedFrom"/>..<see cref="MissedTo"/> are the seqs a resume could not replay (null when none were lost).</remarks>
internal sealed record WelcomeFrame(string ConnectionId, string UserId, string Node, string Session, bool Resumed, long? MissedFrom = null, long? MissedTo = null) : ServerFrame;

/// <summary><c>message</c>: a delivery to this connection.</summary>
/// <param name="Message">The message.</param>
/// <param name="MessageId">Its cluster-wide id (<c>mid</c>), when the connection asked for ids (<c>ids=1</c>).</param>
internal sealed record MessageFrame(SwitchboardMessage Message, long? MessageId = null) : ServerFrame;

/// <summary><c>reply</c>: the answer to a command with an id; <see cref="ErrorCode"/> is set when <see cref="Ok"/> is false.</summary>
internal sealed record ReplyFrame(string Id, bool Ok, string? ErrorCode, string? ErrorMessage) : ServerFrame;

/// <summary><c>reconnect</c>: the node asks the client to move.</summary>
internal sealed record ReconnectFrame(string? Reason, string? Url, string? Token) : ServerFrame;

/// <summary><c>error</c>: input the node could not tie to a command.</summary>
internal sealed record ErrorFrame(string Code, string Message) : ServerFrame;

/// <summary>A well-formed frame of a type this client does not know; ignored so later protocol versions can add types.</summary>
internal sealed record UnknownFrame(string Type) : ServerFrame;

/// <summary>A frame that is not valid protocol v1; <see cref="Problem"/> says why.</summary>
internal sealed record InvalidFrame(string Problem) : ServerFrame;
