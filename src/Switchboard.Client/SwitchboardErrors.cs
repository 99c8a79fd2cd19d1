namespace Switchboard.Client;

/// <summary>The one place the client's exceptions are built, so their reasons and messages stay consistent.</summary>
internal static class SwitchboardErrors
{
    public static SwitchboardException ConnectionLost(string command) =>
        new(SwitchboardErrorReason.ConnectionLost, $"The connection was lost while '{command}' was in flight; it was not sent again and may or may not have been carried out.");

    public static SwitchboardException Timeout(string command, TimeSpan timeout) =>
        new(SwitchboardErrorReason.Timeout, $"No reply to '{command}' within {timeout.TotalSeconds:0.###} s.");

    public static SwitchboardException NotConnected() =>
        new(SwitchboardErrorReason.NotConnected, "The client is not connected: call ConnectAsync first.");

    public static SwitchboardException Closed(Exception? cause = null) =>
        new(SwitchboardErrorReason.Closed, cause is null ? "The client is closed." : $"The client is closed: {cause.Message}", cause);

    public static SwitchboardException Disposed() =>
        new(SwitchboardErrorReason.Closed, "The client was disposed.");

    public static SwitchboardException Unavailable(int attempts, Exception? last) =>
        new(SwitchboardErrorReason.Unavailable,
            $"Could not connect after {attempts} attempt(s)" + (last is null ? "." : $": {last.Message}"),
            httpStatus: (last as SwitchboardException)?.HttpStatus, code: (last as SwitchboardException)?.Code, last);

    public static SwitchboardException GatewayRefused(SwitchboardErrorReason reason, int status, string? code, string? message) =>
        new(reason, $"The gateway answered {status}" + (code is null ? "" : $" {code}") + (message is null ? "." : $": {message}"), status, code);

    public static SwitchboardException GatewayUnavailable(int status, string? code, string? message) =>
        new(SwitchboardErrorReason.Unavailable, $"The gateway answered {status}" + (code is null ? "" : $" {code}") + (message is null ? "." : $": {message}"), status, code);

    public static SwitchboardException GatewayUnreachable(Exception cause) =>
        new(SwitchboardErrorReason.Unavailable, $"The gateway could not be reached: {cause.Message}", cause);

    public static SwitchboardException ProtocolViolation(string what, Exception? cause = null) =>
        new(SwitchboardErrorReason.ProtocolViolation, what, cause);

    public static SwitchboardException NodeUnreachable(Uri node, Exception cause) =>
        new(SwitchboardErrorReason.Unavailable, $"The node {node.GetLeftPart(UriPartial.Path)} could not be reached: {cause.Message}", cause);

    public static SwitchboardException NodeClosed(int? status, string? description) =>
        new(SwitchboardErrorReason.Unavailable, $"The node closed the connection before welcome with {status?.ToString() ?? "no close frame"}" + (string.IsNullOrEmpty(description) ? "." : $": {description}"));

    public static SwitchboardException ConnectionClosed(int? status, string? description, Exception? cause) =>
        new(SwitchboardErrorReason.ConnectionLost,
            (status is null ? "The connection to the node was lost" : $"The node closed the connection with {status}") + (string.IsNullOrEmpty(description) ? "." : $": {description}"),
            cause);

    public static SwitchboardException AttemptTimedOut(TimeSpan timeout) =>
        new(SwitchboardErrorReason.Unavailable, $"The connect attempt did not finish within {timeout.TotalSeconds:0.###} s.");
}
