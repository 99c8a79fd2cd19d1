using System.Net;
using System.Net.Sockets;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests;

/// <summary>A TCP server that runs <c>serve</c> for each connection and then closes it.</summary>
internal sealed class RawBackend : IAsyncDisposable
{
    private static readonly TimeSpan ServePatience = TimeSpan.FromSeconds(60);

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private Task _accepting = Task.CompletedTask;

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Sends back every byte it receives; when the peer closes, closes too.</summary>
    public static async Task EchoAsync(Socket socket)
    {
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
        }
        socket.Shutdown(SocketShutdown.Send);
    }

    public static RawBackend Start(Func<Socket, Task> serve)
    {
        var backend = new RawBackend();
        backend._listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        backend._listener.Listen(512);
        backend._accepting = backend.AcceptAsync(serve);
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting.WaitAsync(Patience);
    }

    private async Task AcceptAsync(Func<Socket, Task> serve)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    try
                    {
                        await serve(socket).WaitAsync(ServePatience);
                    }
                    catch (Exception e) when (e is SocketException or TimeoutException)
                    {
                        // The test that owns this connection says what went wrong.
                    }
                }
            });
        }
    }
}
