using System.Net.Sockets;
using Switchboard.Proxy.Hosting;
using Switchboard.Tests.Common;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Hosting;

/// <summary>Proxy:IdleTrim: after a burst of 1,000 tunnels has settled the proxy gives memory back once, and not again while nothing changes.</summary>
[Collection(QuietProcessCollection.Name)]
public sealed class IdleTrimTests
{
    [Fact]
    public async Task AfterABurstOfTunnelsSettles_TheProxyTrimsOnce()
    {
        await using var backend = RawBackend.Start(RawBackend.EchoAsync);
        var logger = new RecordingLogger();
        var options = new ProxyOptions { Listen = "127.0.0.1:0", Mode = ProxyModes.Tcp, Backends = [$"tcp://{backend.EndPoint}"] };
        options.IdleTrim.ShouldBeTrue("on by default");
        await using var proxy = await ProxyServer.StartAsync(options, loggerFactory: new RecordingLoggerFactory(logger));

        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);
            }
            await WaitAsync(() => proxy.Connections == 1000, "1,000 tunnels open");

            // Real time: the trimmer samples once a second and wants five quiet seconds after the burst.
            await Eventually.TrueAsync(() => logger.Count("IdleTrimmed") == 1, "the trim once the burst has settled", TimeSpan.FromSeconds(30));
            var trimmed = logger.Entries.Single(e => e.EventName == "IdleTrimmed").Message;
            trimmed.ShouldContain("at 1000 connections");
            logger.Entries.ShouldNotContain(e => e.EventName == "IdleTrimFailed");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
