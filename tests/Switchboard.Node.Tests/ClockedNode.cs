using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Backplane;
using Switchboard.Security.Tickets;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests;

/// <summary>
/// A started node on a <see cref="ManualTimeProvider"/>, alone on an in-memory backplane, whose clients are WebSockets
/// over real loopback sockets served straight by the node (no Kestrel, which runs on the wall clock).
/// </summary>
internal sealed class ClockedNode : IAsyncDisposable
{
    private readonly ScopedMeterFactory _meters;
    private readonly List<ClockedClient> _clients = [];

    private ClockedNode(SwitchboardNode node, ManualTimeProvider clock, ScopedMeterFactory meters) => (Node, Clock, _meters) = (node, clock, meters);

    /// <summary>The node.</summary>
    public SwitchboardNode Node { get; }

    /// <summary>The node's clock; it moves only when the test advances it.</summary>
    public ManualTimeProvider Clock { get; }

    /// <summary>Starts node <c>node-1</c>; <paramref name="configure"/> adjusts its options.</summary>
    public static async Task<ClockedNode> StartAsync(Action<NodeOptions> configure)
    {
        // From now, so that tickets issued on the wall clock are valid on the node's.
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var meters = new ScopedMeterFactory();
        var options = new NodeOptions
        {
            NodeId = "node-1",
            ClusterSecret = TestCluster.Secret,
            // Its timer would only add noise to the clock.
            IdleTrim = false,
        };
        configure(options);
        var node = new SwitchboardNode(options, new InMemoryBackplane(), NullLogger<SwitchboardNode>.Instance, new NodeMetrics(meters), clock);
        await node.StartAsync("ws://127.0.0.1:1/v1/ws").WithTimeout("the node's start");
        return new ClockedNode(node, clock, meters);
    }

    /// <summary>Opens a connection for <paramref name="userId"/> with a ticket <paramref name="token"/> (a fresh one by default).</summary>
    public async Task<ClockedClient> OpenAsync(string userId, string? token = null)
    {
        token ??= new TicketIssuer(TestCluster.Secret).Issue(userId, Node.NodeId, Guid.NewGuid().ToString("N"), TimeSpan.FromMinutes(1)).Token;
        var pair = await SocketPair.OpenAsync();
        // Streams that own their sockets, so an abort closes the socket, as it does in a server.
        var server = WebSocket.CreateFromStream(new NetworkStream(pair.Server, ownsSocket: true), new WebSocketCreationOptions { IsServer = true });
        var client = WebSocket.CreateFromStream(new NetworkStream(pair.Client, ownsSocket: true), new WebSocketCreationOptions());
        var serving = Node.ServeAsync(server, await Node.ValidateTicketAsync(token));
        var opened = new ClockedClient(pair, server, client, serving);
        _clients.Add(opened);
        return opened;
    }

    /// <summary>Connects <paramref name="userId"/> and waits for its welcome.</summary>
    public async Task<ClockedClient> ConnectAsync(string userId)
    {
        var client = await OpenAsync(userId);
        (await client.ReceiveTextAsync().WithTimeout($"{userId}'s welcome")).ShouldNotBeNull().ShouldContain("\"welcome\"");
        return client;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        await Node.DisposeAsync();
        _meters.Dispose();
    }
}

/// <summary>A client of a <see cref="ClockedNode"/>, and the node's task serving it.</summary>
internal sealed class ClockedClient(SocketPair pair, WebSocket server, WebSocket socket, Task serving) : IAsyncDisposable
{
    /// <summary>The client's side.</summary>
    public WebSocket Socket => socket;

    /// <summary>Ends when the node has finished with the connection.</summary>
    public Task Serving => serving;

    /// <summary>Closes the client's TCP socket without a close frame, as a client that drops does.</summary>
    public void Vanish() => socket.Abort();

    /// <summary>
    /// Receives the next text frame, or null when the node closed. Not cancellable (cancelling a receive aborts the
    /// socket): a test that waits for something not to come awaits the task with a timeout and may await it again later.
    /// </summary>
    public async Task<string?> ReceiveTextAsync()
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(message.ToArray());
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        socket.Abort();
        socket.Dispose();
        await pair.DisposeAsync();
        try
        {
            // The socket is gone, so the node ends the connection at once; a test that failed may leave it running.
            await serving.WaitAsync(Eventually.DefaultTimeout);
        }
        catch (TimeoutException)
        {
        }
        server.Dispose();
    }
}
