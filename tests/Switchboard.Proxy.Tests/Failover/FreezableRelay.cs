using System.Net;
using System.Net.Sockets;

namespace Switchboard.Proxy.Tests.Failover;

/// <summary>
/// A TCP relay on 127.0.0.1 whose server is named after it listens (so a node can advertise the relay's address), and
/// which can freeze: from then on it passes nothing either way, not even a close, and closes nothing, as when the
/// machine behind it vanished without a FIN or a reset. What arrives meanwhile is read and dropped. It can also hold
/// what its clients send: left unread, so that a client's sends block once the sockets' buffers are full.
/// </summary>
internal sealed class FreezableRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly TaskCompletionSource<IPEndPoint> _server = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopped = new();
    private readonly Lock _lock = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;
    private volatile bool _frozen;
    private volatile TaskCompletionSource _clientsReleased = Released();

    public FreezableRelay()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The relay's own port on 127.0.0.1.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections made so far wait for this; set it once.</summary>
    public void RelayTo(IPEndPoint server) => _server.SetResult(server);

    /// <summary>Connections relayed so far.</summary>
    public int Connections { get; private set; }

    /// <summary>From now on nothing passes either way and nothing is closed.</summary>
    public void Freeze() => _frozen = true;

    /// <summary>From now on what clients send is not read (nor passed on) until <see cref="Release"/>.</summary>
    public void Hold() => _clientsReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Reads and passes on again what clients send, what waited first.</summary>
    public void Release() => _clientsReleased.TrySetResult();

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
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        lock (_lock)
        {
            _sockets.Add(client);
            _sockets.Add(server);
            Connections++;
        }
        try
        {
            await server.ConnectAsync(await _server.Task.WaitAsync(_stopped.Token), _stopped.Token);
            await Task.WhenAll(PumpAsync(client, server, fromClient: true), PumpAsync(server, client, fromClient: false));
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool fromClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                if (fromClient)
                {
                    await _clientsReleased.Task.WaitAsync(_stopped.Token);
                }
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stopped.Token);
                if (read == 0)
                {
                    break;
                }
                if (!_frozen)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stopped.Token);
                }
            }
            if (!_frozen)
            {
                to.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopped.CancelAsync();
        _listener.Stop();
        lock (_lock)
        {
            _sockets.ForEach(s => s.Dispose());
        }
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _stopped.Dispose();
    }
}
