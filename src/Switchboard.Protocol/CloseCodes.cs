namespace Switchboard.Protocol;

/// <summary>WebSocket close codes a node uses, with what the client should do about each.</summary>
public static class CloseCodes
{
    /// <summary>1000: the client asked to close, or the node closed after the client did.</summary>
    public const int Normal = 1000;

    /// <summary>1007: a text frame was not valid UTF-8 (sent by the WebSocket layer itself).</summary>
    public const int InvalidPayload = 1007;

    /// <summary>1008: the ticket is missing, malformed, forged, expired or for another node. Ask the gateway again.</summary>
    public const int PolicyViolation = 1008;

    /// <summary>1009: a frame was larger than the node's maximum message size.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>1011: the node hit an unexpected condition.</summary>
    public const int InternalError = 1011;

    /// <summary>1012: the node is restarting, shutting down or draining. Reconnect now through the gateway.</summary>
    public const int ServiceRestart = 1012;

    /// <summary>1013: the node is full. Ask the gateway for another node.</summary>
    public const int TryAgainLater = 1013;

    /// <summary>
    /// 3002: the client kept sending frames the node had to reject (past the protocol-error budget). The client
    /// has a bug; reconnecting would only repeat it, so SDKs stop and report it.
    /// </summary>
    public const int TooManyInvalidFrames = 3002;

    /// <summary>
    /// 3008: the client read too slowly and its bounded send queue overflowed. Codes 3000–3999 are for
    /// frameworks; Switchboard leaves 4000–4999 to applications.
    /// </summary>
    public const int SlowConsumer = 3008;
}
