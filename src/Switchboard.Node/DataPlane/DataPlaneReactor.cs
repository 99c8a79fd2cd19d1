using Microsoft.Extensions.Logging;
using Switchboard.Reactor;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// The node's one epoll reactor that data-plane connections wait on for their next bytes (<see
/// cref="NodeOptions.SocketReactor"/>), or none where it is off or the platform has no epoll. Started with the data
/// plane, so that a node that cannot make one fails to start rather than failing its connections later.
/// </summary>
internal sealed class DataPlaneReactor(NodeOptions options, ILogger<DataPlaneReactor> logger) : IDisposable
{
    /// <summary>The reactor; null when connections use .NET's own socket receives.</summary>
    public SocketReactor? Reactor { get; } = options.SocketReactor && SocketReactor.IsSupported
        ? new SocketReactor("switchboard node reactor", e => NodeLog.ReactorFailed(logger, e))
        : null;

    /// <summary>Finishes the receives the reactor found ready.</summary>
    public ReceiveDispatcher Dispatcher { get; } = new();

    public void Dispose() => Reactor?.Dispose();
}
