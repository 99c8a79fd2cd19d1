using System.Net.Sockets;
using System.Net.WebSockets;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Reactor;

/// <summary>Proxy:RelayThreads: tunnels spread over several reactor threads, each connection on one from accept to close.</summary>
public sealed class RelayThreadsTests
{
    [Fact]
    public async Task ByDefault_ThereIsOneRelayThreadPerProcessor()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        await using var proxy = await ProxyServer.StartAsync(Options(backend));

        var threads = await proxy.RelayThreads.WaitAsync(Patience);

        threads.Length.ShouldBe(Environment.ProcessorCount);
        threads.Select(t => t.ThreadId).Distinct().Count().ShouldBe(Environment.ProcessorCount);
    }

    [Fact]
    public async Task Tunnels_SpreadEvenlyOverTheRelayThreads_AndEachRelaysItsOwnUntilItCloses()
    {
        await using var setUp = await ThreeRelayThreads.StartAsync();
        var proxy = setUp.Proxy;
        (await proxy.RelayThreads.WaitAsync(Patience)).Select(t => t.ThreadId).Distinct().Count().ShouldBe(3);

        var sockets = new List<ClientWebSocket>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var socket = await ConnectAsync(proxy);
                sockets.Add(socket);
                await socket.SendTextAsync($"tunnel {i}");
                (await socket.ReceiveTextAsync()).ShouldBe($"tunnel {i}");
            }

            // Two sockets per tunnel (the client's and the backend's), two tunnels per thread.
            proxy.SocketsPerRelayThread.ShouldBe([4, 4, 4]);
            // Every tunnel still relays, whichever thread serves it.
            for (var i = 0; i < sockets.Count; i++)
            {
                await sockets[i].SendTextAsync($"again {i}");
                (await sockets[i].ReceiveTextAsync()).ShouldBe($"again {i}");
            }

            await sockets[0].CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).WaitAsync(Patience);
            await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([2, 4, 4]), "the first thread to let go of the closed tunnel's sockets");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task AConnection_WaitsForItsRequestOnItsOwnRelayThread_AndANewOneTakesTheThreadItLeft()
    {
        await using var setUp = await ThreeRelayThreads.StartAsync();
        var proxy = setUp.Proxy;

        // Connections that send nothing wait for their request: one socket each, on the thread each was given.
        var quiet = new[] { await setUp.DialQuietAsync(), await setUp.DialQuietAsync(), await setUp.DialQuietAsync() };
        await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([1, 1, 1]), "each quiet connection waiting on a thread of its own");

        quiet[1].Dispose();
        await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([1, 0, 1]), "the second thread to let go of the closed connection");
        // The next in turn would be the first thread; the tunnel goes where nothing is served.
        using var socket = await ConnectAsync(proxy);
        (await socket.WhoAmIAsync()).ShouldBe("b1");
        proxy.SocketsPerRelayThread.ShouldBe([1, 2, 1]);
    }

    [Fact]
    public async Task AmongEquallyBusyRelayThreads_ConnectionsTakeTheNextInTurn_NotTheFirst()
    {
        await using var setUp = await ThreeRelayThreads.StartAsync();
        var proxy = setUp.Proxy;

        var first = await setUp.DialQuietAsync();
        var second = await setUp.DialQuietAsync();
        await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([1, 1, 0]), "the first two threads each serving a quiet connection");
        first.Dispose();
        second.Dispose();
        await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([0, 0, 0]), "every thread free again");

        // All three equally free: the third connection takes the third thread, so the first is not always the one loaded.
        await setUp.DialQuietAsync();
        await Eventually.TrueAsync(() => proxy.SocketsPerRelayThread.SequenceEqual([0, 0, 1]), "the third connection on the third thread");
    }

    [Fact]
    public async Task TcpMode_SpreadsItsTunnelsOverTheRelayThreads()
    {
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        var options = ReactorRelayTests.TcpOptions(backend, kernelRelay: false);
        options.RelayThreads = 2;
        await using var proxy = await ProxyServer.StartAsync(options);
        var clients = new List<Socket>();
        try
        {
            var buffer = new byte[16];
            for (var i = 0; i < 4; i++)
            {
                var client = await ReactorRelayTests.DialAsync(proxy);
                clients.Add(client);
                await client.SendAsync(new[] { (byte)i }, SocketFlags.None).WaitAsync(Patience);
                (await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience)).ShouldBe(1);
                buffer[0].ShouldBe((byte)i);
            }

            proxy.SocketsPerRelayThread.ShouldBe([4, 4]);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public async Task ACountOutsideTheRange_IsRefusedAtStart_NamingTheKey(int threads)
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.RelayThreads = threads;

        var error = await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(options));

        error.Message.ShouldBe($"Proxy:RelayThreads (--relay-threads) must be 0 (one per processor) or from 1 to 256 (is {threads}).");
    }

    [Fact]
    public void FailoverMode_RefusesRelayThreads_SinceItHasNone()
    {
        var options = new ProxyOptions { Listen = "127.0.0.1:0", Mode = ProxyModes.Failover, Gateway = "http://127.0.0.1:7000", Backends = ["ws://127.0.0.1:7001/v1/ws"], RelayThreads = 2 };

        Should.Throw<ArgumentException>(() => ProxySettings.Resolve(options)).Message
            .ShouldBe("Proxy:RelayThreads (--relay-threads) is for tunnel and tcp mode: failover mode terminates WebSocket on .NET's sockets and has no relay threads.");
    }

    [Fact]
    public async Task AReload_ThatNamesTheCountItRunsWith_NeedsNoRestart()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        await using var proxy = await ProxyServer.StartAsync(Options(backend), loggerFactory: new RecordingLoggerFactory(logger));

        var named = Options(backend);
        named.RelayThreads = Environment.ProcessorCount;
        proxy.Reload(named);

        logger.Entries.ShouldContain(e => e.EventName == "Reloaded");
        logger.Entries.ShouldNotContain(e => e.EventName == "ReloadNeedsRestart");
    }

    [Fact]
    public async Task AReload_ThatChangesTheCount_SaysItTakesARestart()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var logger = new RecordingLogger();
        var options = Options(backend);
        options.RelayThreads = 2;
        await using var proxy = await ProxyServer.StartAsync(options, loggerFactory: new RecordingLoggerFactory(logger));

        var changed = Options(backend);
        changed.RelayThreads = 4;
        proxy.Reload(changed);

        logger.Entries.ShouldContain(e => e.EventName == "ReloadNeedsRestart" && e.Message.Contains("Proxy:RelayThreads"));
        (await proxy.RelayThreads.WaitAsync(Patience)).Length.ShouldBe(2);
    }

    /// <summary>A proxy with three relay threads in front of one backend, and the quiet connections a test opens to it.</summary>
    private sealed class ThreeRelayThreads : IAsyncDisposable
    {
        private readonly List<Socket> _quiet = [];

        private ThreeRelayThreads(TestBackend backend, ProxyServer proxy)
        {
            Backend = backend;
            Proxy = proxy;
        }

        public TestBackend Backend { get; }

        public ProxyServer Proxy { get; }

        public static async Task<ThreeRelayThreads> StartAsync()
        {
            var backend = await TestBackend.StartAsync("b1");
            try
            {
                var options = Options(backend);
                options.RelayThreads = 3;
                // Quiet connections must outlast the test however slow the machine, not time out their handshakes.
                options.HandshakeTimeout = TimeSpan.FromMinutes(2);
                return new ThreeRelayThreads(backend, await ProxyServer.StartAsync(options));
            }
            catch
            {
                await backend.DisposeAsync();
                throw;
            }
        }

        /// <summary>Opens a connection that sends nothing, so it waits for its request on its relay thread.</summary>
        public async Task<Socket> DialQuietAsync()
        {
            var socket = await ReactorRelayTests.DialAsync(Proxy);
            _quiet.Add(socket);
            return socket;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var socket in _quiet)
            {
                socket.Dispose();
            }
            await Proxy.DisposeAsync();
            await Backend.DisposeAsync();
        }
    }
}
