using System.Net;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.SourcePool;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.SourcePool;

public sealed class SourcePoolTests
{
    [Fact]
    public async Task UpstreamConnections_BindToTheSourceAddressesInTurn()
    {
        await using var backend = await TestBackend.StartAsync("b1");
        var options = Options(backend);
        options.SourceAddresses = ["127.0.0.2-127.0.0.4"];
        await using var proxy = await ProxyServer.StartAsync(options);

        var sockets = new List<System.Net.WebSockets.ClientWebSocket>();
        for (var i = 0; i < 6; i++)
        {
            sockets.Add(await ConnectAsync(proxy));
        }

        backend.Requests.Select(r => r.RemoteAddress.ToString()).ShouldBe(
            ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2", "127.0.0.3", "127.0.0.4"]);
        sockets.ForEach(s => s.Dispose());
    }

    [Fact]
    public void Pool_ParsesRangesAndLists_AndRefusesNonsense()
    {
        SourceAddressPool.Parse(["127.0.0.2-127.0.0.4", "127.0.1.1,127.0.1.2"])!.Addresses.Select(a => a.ToString())
            .ShouldBe(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1", "127.0.1.2"]);
        SourceAddressPool.Parse([]).ShouldBeNull();
        Should.Throw<FormatException>(() => SourceAddressPool.Parse(["127.0.0.9-127.0.0.2"]));
        Should.Throw<FormatException>(() => SourceAddressPool.Parse(["nope"]));
        new SourceAddressPool([IPAddress.IPv6Loopback]).Next(System.Net.Sockets.AddressFamily.InterNetwork).ShouldBeNull();
    }
}
