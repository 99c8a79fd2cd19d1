using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Switchboard.Node.DataPlane;

/// <summary>
/// The data plane's own accept loop on a plain socket: no HTTP server, no transport pipes, no per-connection
/// connection context. Each accepted socket is handed to <see cref="DataPlaneAcceptor"/>. It binds before the node
/// starts (so the node can advertise the real port) and stops accepting when the host stops; connections already
/// accepted are closed by the node itself.
/// </summary>
internal sealed class DataPlaneListener(NodeOptions options, DataPlaneBinding binding, DataPlaneAcceptor acceptor, ILogger<DataPlaneListener> logger) : IHostedLifecycleService
{
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task _accepting = Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(options.DataPlaneAddress), options.DataPlanePort ?? 0);
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (options.CongestionControl is { } congestion)
            {
                // Accepted connections inherit it from the listener: one call here, none per connection.
                CongestionControl.Set(listener, congestion);
            }
            listener.Bind(endPoint);
            listener.Listen(backlog: 4096);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IOException($"The data-plane listener cannot listen on {endPoint}: {e.Message}", e);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        binding.EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _accepting = AcceptLoopAsync(listener);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        _stopping.Dispose();
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of file descriptors or a connection reset before it was accepted: keep accepting the others.
                NodeLog.DataPlaneAcceptFailed(logger, e.SocketErrorCode);
                await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            _ = acceptor.AcceptAsync(socket);
        }
    }
}
