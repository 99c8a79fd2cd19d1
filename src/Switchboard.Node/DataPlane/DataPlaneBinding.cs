using System.Net;

namespace Switchboard.Node.DataPlane;

/// <summary>Where the data-plane listener was bound, so the node can advertise its real port (port 0 picks one at start).</summary>
internal sealed class DataPlaneBinding
{
    public IPEndPoint? EndPoint { get; set; }

    /// <summary>The data-plane WebSocket URL once the listener is bound, or null.</summary>
    public string? Url => EndPoint is { Port: > 0 } endPoint ? $"ws://{endPoint}{Protocol.WireNames.WebSocketPath}" : null;
}
