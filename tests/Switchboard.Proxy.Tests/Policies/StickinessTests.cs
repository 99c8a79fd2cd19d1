using System.Net.WebSockets;
using Switchboard.Proxy.Hosting;
using Switchboard.Proxy.Policies;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Policies;

public sealed class StickinessTests
{
    [Fact]
    public async Task CookieStickiness_HoldsAcrossReconnects_AndMovesWhenTheBackendIsGone()
    {
        var backends = await StartBackendsAsync(3);
        try
        {
            var options = Options(backends);
            options.Policy = BalancingPolicies.Cookie;
            await using var proxy = await ProxyServer.StartAsync(options);

            string first;
            string cookie;
            using (var socket = await ConnectAsync(proxy, "/", o => o.CollectHttpResponseDetails = true))
            {
                first = await socket.WhoAmIAsync();
                cookie = socket.HttpResponseHeaders!["Set-Cookie"].Single();
            }
            cookie.ShouldStartWith("SB-Backend=");
            cookie.ShouldContain("Path=/");
            var value = cookie.Split(';')[0];

            for (var i = 0; i < 6; i++)
            {
                using var again = await ConnectAsync(proxy, "/", o =>
                {
                    o.SetRequestHeader("Cookie", $"other=1; {value}");
                    o.CollectHttpResponseDetails = true;
                });
                (await again.WhoAmIAsync()).ShouldBe(first);
                again.HttpResponseHeaders!.ContainsKey("Set-Cookie").ShouldBeFalse(); // already right: not set again
            }

            var owner = backends.Single(b => b.Name == first);
            options.Backends = backends.Where(b => b != owner).Select(b => b.Spec).ToList();
            proxy.Reload(options);
            using var moved = await ConnectAsync(proxy, "/", o =>
            {
                o.SetRequestHeader("Cookie", value);
                o.CollectHttpResponseDetails = true;
            });
            (await moved.WhoAmIAsync()).ShouldNotBe(first);
            moved.HttpResponseHeaders!["Set-Cookie"].Single().ShouldNotBe(cookie);
        }
        finally
        {
            foreach (var backend in backends)
            {
                await backend.DisposeAsync();
            }
        }
    }
}
