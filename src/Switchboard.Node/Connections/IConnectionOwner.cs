using Switchboard.Protocol;

namespace Switchboard.Node.Connections;

/// <summary>What a connection needs from its node: someone to carry out its commands and to forget it when it closes.</summary>
internal interface IConnectionOwner
{
    /// <summary>Carries out one valid command; answers through <see cref="ClientConnection.TryEnqueue(byte[])"/>.</summary>
    ValueTask HandleCommandAsync(ClientConnection connection, ClientCommand command);

    /// <summary>
    /// The first frame of a connection opened with a resume ticket is not a <c>resume</c>: welcomes it as a new session
    /// (true), or closes it when its ticket only resumes (false).
    /// </summary>
    bool StartWithoutResume(ClientConnection connection);

    /// <summary>Called once when the connection starts closing, whatever the reason, so nothing more is routed to it.</summary>
    void OnClosing(ClientConnection connection, CloseReason reason);

    /// <summary>Called once when the connection has ended and its socket is disposed: the last call for it.</summary>
    void OnEnded(ClientConnection connection);

    /// <summary>Called when serving the connection threw something other than a network failure.</summary>
    void OnFailed(ClientConnection connection, Exception exception);

    /// <summary>Called for every frame written to a client.</summary>
    void OnFrameSent(bool isMessage);
}
