using Switchboard.Proxy.Listening;
using Switchboard.Proxy.SourcePool;

namespace Switchboard.Proxy.Failover;

/// <summary>What every failover session shares: the gateway that issues resume tickets, and the HTTP client node WebSockets are opened with.</summary>
internal sealed class FailoverServices : IDisposable
{
    public FailoverServices(GatewayClient gateway, ProxyRuntime runtime)
    {
        Gateway = gateway;
        // Node connections are dialled like the tunnel's: bound to the source pool of the current settings.
        Nodes = new HttpMessageInvoker(UpstreamDialer.CreateHttpHandler(() => (runtime.Settings.SourcePool, runtime.Settings.Options.ConnectTimeout)));
    }

    public GatewayClient Gateway { get; }

    /// <summary>Opens node WebSockets (<c>ClientWebSocket.ConnectAsync(uri, invoker, …)</c>).</summary>
    public HttpMessageInvoker Nodes { get; }

    public void Dispose()
    {
        Nodes.Dispose();
        Gateway.Dispose();
    }
}
