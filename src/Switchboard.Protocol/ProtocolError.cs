namespace Switchboard.Protocol;

/// <summary>A client input the node rejects, with a code from <see cref="ErrorCodes"/> and a human-readable message.</summary>
/// <param name="Code">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">What was wrong, for a developer reading the frame.</param>
public sealed record ProtocolError(string Code, string Message);
