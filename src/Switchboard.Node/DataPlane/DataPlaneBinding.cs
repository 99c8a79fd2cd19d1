using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Switchboard.Node.DataPlane;

/// <summary>Where the data-plane listener was bound, so the node can advertise its real port (port 0 picks one at start).</summary>
internal sealed class DataPlaneBinding
{
    public ListenOptions? Listen { get; set; }

    /// <summary>The data-plane WebSocket URL once the server listens, or null.</summary>
    public string? Url => Listen?.IPEndPoint is { Port: > 0 } endPoint ? $"ws://{endPoint}{Protocol.WireNames.WebSocketPath}" : null;
}
