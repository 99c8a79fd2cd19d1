using System.Net;
using System.Net.Sockets;

namespace Switchboard.Tests.Common;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server. A test can hold what the clients send (the relay still reads and
/// counts it, but passes nothing on until released) and cut every connection, to put a client in the moment where
/// its bytes have left it but the server has not seen them; or hold what the server sends, for the moment where the
/// server has acted on a request but its answer has not reached the client.
/// </summary>
public sealed class HoldableRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _server;
    private readonly CancellationTokenSource _stopped = new();
    private readonly Lock _lock = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;
    private TaskCompletionSource _released = Released();
    private TaskCompletionSource _serversReleased = Released();
    private long _bytesFromClients;

    private HoldableRelay(IPEndPoint server)
    {
        _server = server;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>Starts a relay to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static async Task<HoldableRelay> StartAsync(string host, int port)
    {
        var addresses = await Dns.GetHostAddressesAsync(host);
        return new HoldableRelay(new IPEndPoint(addresses.First(a => a.AddressFamily == AddressFamily.InterNetwork), port));
    }

    /// <summary>The relay's own port on 127.0.0.1.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes read from clients so far, held or passed on.</summary>
    public long BytesFromClients => Interlocked.Read(ref _bytesFromClients);

    /// <summary>From now on, what clients send is read and counted but not passed on.</summary>
    public void Hold()
    {
        lock (_lock)
        {
            if (_released.Task.IsCompleted)
            {
                _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>From now on, what the server sends is read but not passed on.</summary>
    public void HoldServers()
    {
        lock (_lock)
        {
            if (_serversReleased.Task.IsCompleted)
            {
                _serversReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Passes on what was held, either way, and everything after it.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _released.TrySetResult();
            _serversReleased.TrySetResult();
        }
    }

    /// <summary>Resets every connection on both sides; what was held is never passed on.</summary>
    public void CutAll()
    {
        lock (_lock)
        {
            foreach (var socket in _sockets)
            {
                try
                {
                    // Linger 0: close with a reset, as when the machine in between goes away.
                    socket.LingerState = new LingerOption(true, 0);
                }
                catch (ObjectDisposedException)
                {
                    // Its pump already closed it.
                }
                socket.Dispose();
            }
            _sockets.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopped.CancelAsync();
        _listener.Stop();
        CutAll();
        Release();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
        _stopped.Dispose();
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        released.SetResult();
        return released;
    }

    private async Task AcceptAsync()
    {
        while (!_stopped.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stopped.Token);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await server.ConnectAsync(_server, _stopped.Token);
            }
            catch (SocketException)
            {
                // The server refused: so does the relay, by closing this client; the next may fare better.
                client.Dispose();
                server.Dispose();
                continue;
            }
            catch
            {
                client.Dispose();
                server.Dispose();
                throw;
            }
            lock (_lock)
            {
                _sockets.Add(client);
                _sockets.Add(server);
            }
            _ = PumpAsync(client, server, fromClient: true);
            _ = PumpAsync(server, client, fromClient: false);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stopped.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                if (fromClient)
                {
                    Interlocked.Add(ref _bytesFromClients, read);
                }
                Task released;
                lock (_lock)
                {
                    released = fromClient ? _released.Task : _serversReleased.Task;
                }
                await released.WaitAsync(_stopped.Token);
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stopped.Token);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // A connection cut, closed or stopped: its other side goes with it.
            from.Dispose();
            to.Dispose();
        }
    }
}
