namespace Switchboard.Node.Connections;

/// <summary>Why a connection ended; the metric tag and log field of a disconnect.</summary>
public enum CloseReason
{
    /// <summary>The client closed the connection.</summary>
    ClientClosed,
    /// <summary>The connection dropped without a closing handshake.</summary>
    Aborted,
    /// <summary>The client's send queue overflowed (close 3008).</summary>
    SlowConsumer,
    /// <summary>The client sent a frame over the size limit (close 1009).</summary>
    MessageTooBig,
    /// <summary>The client kept sending invalid frames (close 3002).</summary>
    ProtocolAbuse,
    /// <summary>The node is shutting down (close 1012).</summary>
    NodeShutdown,
    /// <summary>The node failed unexpectedly while serving this connection (close 1011).</summary>
    InternalError,
    /// <summary>Its session was resumed by another connection (close 1000).</summary>
    SessionMoved,
    /// <summary>The session's grace time passed without a resume.</summary>
    SessionExpired,
    /// <summary>A resume-only ticket (one the gateway issued to a proxy) did not resume its session (close 1008).</summary>
    ResumeRefused,
}
