using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;
using Switchboard.Proxy.Reactor;
using Switchboard.Reactor;

namespace Switchboard.Proxy.Tcp;

/// <summary>
/// <c>tcp</c> mode for one client: no HTTP parsing; pick a backend by the client's address (source-hash on IP:port
/// by default), dial it and relay bytes both ways. A client that cannot be placed is simply closed.
/// </summary>
internal static class TcpHandler
{
    public static async Task RunAsync(ClientConnection connection, ProxyRuntime runtime, CancellationToken stopping)
    {
        var options = runtime.Settings.Options;
        try
        {
            DialResult dial;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                handshake.CancelAfter(options.HandshakeTimeout);
                dial = await runtime.DialAsync(connection, new BalancingContext(connection.Remote, Request: null), handshake.Token).ConfigureAwait(false);
            }
            if (dial.Refusal is not null)
            {
                runtime.Metrics.Refused(dial.Refusal.Status);
                ProxyLog.ClientRefused(runtime.Logger, connection.Remote.ToString(), dial.Refusal.Status, dial.Refusal.Message);
                return;
            }
            var backend = dial.Backend!;
            connection.Backend = backend;
            connection.Upstream = dial.Socket;
            try
            {
                runtime.Metrics.TunnelOpened();
                ProxyLog.TunnelOpened(runtime.Logger, connection.Remote.ToString(), backend.Id);
                connection.Touch(runtime.Time.GetTimestamp());
                var backendFailed = await ReactorRelay.RunAsync(runtime, connection, dial.Socket!, readFromClient: 0, readFromUpstream: 0).ConfigureAwait(false);
                if (backendFailed && connection.ClosedBecause is null)
                {
                    runtime.Health.PassiveFailure(backend, "the backend reset an established connection", isDial: false);
                }
                ProxyLog.TunnelClosed(runtime.Logger, connection.Remote.ToString(), backend.Id, connection.ClosedBecause ?? (backendFailed ? "backend failed" : "closed"));
            }
            finally
            {
                backend.RemoveConnection();
            }
        }
        catch (OperationCanceledException)
        {
            // Handshake timeout or shutdown: just close.
        }
        finally
        {
            connection.Close();
        }
    }
}
