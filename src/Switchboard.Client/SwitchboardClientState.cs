namespace Switchboard.Client;

/// <summary>The life cycle of a <see cref="SwitchboardClient"/>.</summary>
public enum SwitchboardClientState
{
    /// <summary>Not connected yet, or the first <see cref="SwitchboardClient.ConnectAsync"/> failed; <c>ConnectAsync</c> may be called.</summary>
    Disconnected,

    /// <summary><see cref="SwitchboardClient.ConnectAsync"/> is asking the gateway for a node and dialling it.</summary>
    Connecting,

    /// <summary>The node sent <c>welcome</c>; commands are sent at once.</summary>
    Connected,

    /// <summary>The connection dropped and the client is reconnecting through the gateway; commands wait for it.</summary>
    Reconnecting,

    /// <summary>Terminal: the client was disposed, the gateway refused it for good, or it lost its connection with <see cref="SwitchboardClientOptions.AutoReconnect"/> off.</summary>
    Closed,
}
