using Microsoft.Extensions.Logging;
using Switchboard.Reactor;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// The node's one epoll reactor that data-plane connections wait on for their next bytes (<see
/// cref="NodeOptions.SocketReactor"/>), or none where it is off or the platform has no epoll.
/// </summary>
internal sealed class DataPlaneReactor(NodeOptions options, ILogger<DataPlaneReactor> logger) : IDisposable
{
    private readonly Lazy<SocketReactor?> _reactor = new(() => options.SocketReactor && SocketReactor.IsSupported
        ? new SocketReactor("switchboard node reactor", e => NodeLog.ReactorFailed(logger, e))
        : null);

    /// <summary>The reactor, started on first use; null when connections use .NET's own socket receives.</summary>
    public SocketReactor? Reactor => _reactor.Value;

    /// <summary>Finishes the receives the reactor found ready.</summary>
    public ReceiveDispatcher Dispatcher { get; } = new();

    public void Dispose()
    {
        if (_reactor.IsValueCreated)
        {
            _reactor.Value?.Dispose();
        }
    }
}
