namespace Switchboard.Client;

/// <summary>Raised when the client has a node connection ready for commands (after <c>welcome</c>, and after re-joining groups on a reconnect).</summary>
public sealed class SwitchboardConnectedEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public SwitchboardConnectedEventArgs(string nodeId, string connectionId, string sessionId, bool resumed, bool isReconnect)
    {
        NodeId = nodeId;
        ConnectionId = connectionId;
        SessionId = sessionId;
        Resumed = resumed;
        IsReconnect = isReconnect;
    }

    /// <summary>The node the client is connected to.</summary>
    public string NodeId { get; }

    /// <summary>The connection id the node assigned (a target of <c>conn:&lt;id&gt;</c>).</summary>
    public string ConnectionId { get; }

    /// <summary>The session id from <c>welcome</c>.</summary>
    public string SessionId { get; }

    /// <summary>True when the node resumed an earlier session.</summary>
    public bool Resumed { get; }

    /// <summary>True when this connection replaces one that was lost.</summary>
    public bool IsReconnect { get; }
}

/// <summary>Raised once per lost or closed node connection.</summary>
public sealed class SwitchboardDisconnectedEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public SwitchboardDisconnectedEventArgs(int? closeStatus, string? closeDescription, bool willReconnect, Exception? error)
    {
        CloseStatus = closeStatus;
        CloseDescription = closeDescription;
        WillReconnect = willReconnect;
        Error = error;
    }

    /// <summary>The WebSocket close code (see <see cref="Switchboard.Protocol.CloseCodes"/>); null when the socket dropped without a close frame.</summary>
    public int? CloseStatus { get; }

    /// <summary>The close reason text, if any.</summary>
    public string? CloseDescription { get; }

    /// <summary>True when the client is reconnecting through the gateway; false when it is now <see cref="SwitchboardClientState.Closed"/>.</summary>
    public bool WillReconnect { get; }

    /// <summary>What went wrong, when the connection failed rather than closed; or why the client gave up.</summary>
    public Exception? Error { get; }
}

/// <summary>An <c>error</c> frame from the node: input it could not tie to a command.</summary>
public sealed class SwitchboardErrorEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public SwitchboardErrorEventArgs(string code, string message)
    {
        Code = code;
        Message = message;
    }

    /// <summary>One of <see cref="Switchboard.Protocol.ErrorCodes"/>.</summary>
    public string Code { get; }

    /// <summary>What was wrong, for a developer.</summary>
    public string Message { get; }
}

/// <summary>
/// Raised after a reconnect when messages of the session may be lost: the resume could not replay
/// <see cref="FromSeq"/>..<see cref="ToSeq"/>, or the session could not be resumed at all (<see cref="SessionLost"/>).
/// </summary>
public sealed class SwitchboardMessagesLostEventArgs : EventArgs
{
    /// <summary>Creates the arguments.</summary>
    public SwitchboardMessagesLostEventArgs(string previousSessionId, long fromSeq, long? toSeq, bool sessionLost)
    {
        PreviousSessionId = previousSessionId;
        FromSeq = fromSeq;
        ToSeq = toSeq;
        SessionLost = sessionLost;
    }

    /// <summary>The session that was being resumed.</summary>
    public string PreviousSessionId { get; }

    /// <summary>The first seq (of the previous session) that may be lost.</summary>
    public long FromSeq { get; }

    /// <summary>The last seq known lost; null when unknown (the session itself was lost, so any number may be).</summary>
    public long? ToSeq { get; }

    /// <summary>True when the session could not be resumed (expired, its node died): the client continues on a new session.</summary>
    public bool SessionLost { get; }
}
