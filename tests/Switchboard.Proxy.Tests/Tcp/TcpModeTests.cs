using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Tcp;

public sealed class TcpModeTests
{
    [Fact]
    public async Task TcpMode_RelaysBytesWithoutTouchingHttp_AndSpreadsBySourceIpAndPort()
    {
        var backends = await StartBackendsAsync(2);
        try
        {
            var options = Options(backends);
            options.Mode = ProxyModes.Tcp;
            await using var proxy = await ProxyServer.StartAsync(options);
            proxy.Policy.ShouldBe("source-hash");

            var names = new List<string>();
            for (var i = 0; i < 12; i++)
            {
                using var socket = await ConnectAsync(proxy, "/tcp?i=" + i, o => o.AddSubProtocol("raw.v1"));
                socket.SubProtocol.ShouldBe("raw.v1");
                names.Add(await socket.WhoAmIAsync());
            }

            names.Distinct().Count().ShouldBe(2); // each client port hashes on its own
            var seen = backends.SelectMany(b => b.Requests).ToList();
            seen.Count.ShouldBe(12);
            seen.ShouldAllBe(r => !r.Headers.ContainsKey("X-Forwarded-For")); // L4: the request went through untouched
        }
        finally
        {
            foreach (var backend in backends)
            {
                await backend.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TcpMode_RefusesPoliciesThatNeedTheRequest()
    {
        var options = Options();
        options.Backends = ["tcp://127.0.0.1:9"];
        options.Mode = ProxyModes.Tcp;
        options.Policy = "cookie";

        var e = await Should.ThrowAsync<ArgumentException>(() => ProxyServer.StartAsync(options));
        e.Message.ShouldContain("tcp mode");
    }
}
