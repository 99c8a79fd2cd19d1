using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Switchboard.Proxy.Hosting;
using static Switchboard.Proxy.Tests.ProxyTestHelpers;

namespace Switchboard.Proxy.Tests.Tunnel;

public sealed class RefusedUpgradeTests
{
    private const string RefusalBody = "no ticket\n";

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task RefusedUpgrade_ReachesTheClient_ThenBothSidesClose_AndNothingMoreReachesTheBackend(bool pipelined, bool chunked)
    {
        await using var backend = await RefusingBackend.StartAsync(chunked);
        var options = Options();
        options.Backends = [backend.Spec];
        options.HandshakeTimeout = TimeSpan.FromMinutes(1); // the answer's own end closes the connection, not this
        await using var proxy = await ProxyServer.StartAsync(options);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(proxy.ListenEndPoint).WaitAsync(Patience);
        // A plain request with a spoofed forwarding chain: through the proxy it would have its own address appended.
        var second = "GET /second HTTP/1.1\r\nHost: proxy\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";

        string answer;
        if (pipelined)
        {
            await client.SendAsync(Encoding.ASCII.GetBytes(Upgrade() + second), SocketFlags.None).WaitAsync(Patience);
            answer = await ReadToEndAsync(client);
        }
        else
        {
            await client.SendAsync(Encoding.ASCII.GetBytes(Upgrade()), SocketFlags.None).WaitAsync(Patience);
            var head = await TunnelTests.ReadHeadAsync(client);
            head.ShouldStartWith("HTTP/1.1 401");
            await client.SendAsync(Encoding.ASCII.GetBytes(second), SocketFlags.None).WaitAsync(Patience);
            answer = head + await ReadToEndAsync(client);
        }

        answer.ShouldStartWith("HTTP/1.1 401");
        // The whole refusal, body included, and nothing after it.
        answer.ShouldEndWith(chunked ? "\r\n0\r\n\r\n" : "\r\n\r\n" + RefusalBody);
        answer.ShouldContain(chunked ? "Transfer-Encoding: chunked" : $"Content-Length: {RefusalBody.Length}");
        answer.ShouldContain(chunked ? $"3\r\n{RefusalBody[..3]}\r\n7\r\n{RefusalBody[3..]}\r\n" : RefusalBody);
        client.Shutdown(SocketShutdown.Send); // done too, so the proxy need not wait to read off anything more
        await WaitAsync(() => proxy.Connections == 0 && backend.Open == 0, "the proxy to let both sides go");
        backend.Seen.Select(r => r.Path).ShouldBe(["/"]);
    }

    /// <summary>
    /// A Kestrel server that refuses every WebSocket upgrade with 401 (keeping the connection alive, as HTTP/1.1 does;
    /// the body with a Content-Length or chunked) and answers any other request with the <c>X-Forwarded-For</c> it got;
    /// it records what it saw.
    /// </summary>
    private sealed class RefusingBackend : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _open;

        private RefusingBackend(WebApplication app) => _app = app;

        public string Spec { get; private set; } = "";

        public ConcurrentQueue<(string Path, string ForwardedFor)> Seen { get; } = new();

        /// <summary>Client connections the server holds open.</summary>
        public int Open => Volatile.Read(ref _open);

        public static async Task<RefusingBackend> StartAsync(bool chunked)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            RefusingBackend? backend = null;
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.Use(next => async connection =>
            {
                Interlocked.Increment(ref backend!._open);
                try
                {
                    await next(connection);
                }
                finally
                {
                    Interlocked.Decrement(ref backend._open);
                }
            })));
            builder.WebHost.UseUrls();
            var app = builder.Build();
            backend = new RefusingBackend(app);
            app.UseWebSockets();
            app.Run(async context =>
            {
                backend.Seen.Enqueue((context.Request.Path, context.Request.Headers["X-Forwarded-For"].ToString()));
                if (context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = 401;
                    if (!chunked)
                    {
                        context.Response.ContentLength = RefusalBody.Length;
                        await context.Response.WriteAsync(RefusalBody);
                        return;
                    }
                    // Two flushed chunks, so the proxy sees the body's end arrive apart from its start.
                    await context.Response.StartAsync();
                    await context.Response.WriteAsync(RefusalBody[..3]);
                    await context.Response.Body.FlushAsync();
                    await context.Response.WriteAsync(RefusalBody[3..]);
                    return;
                }
                await context.Response.WriteAsync($"forwarded for {context.Request.Headers["X-Forwarded-For"]}\n");
            });
            await app.StartAsync().WaitAsync(Patience);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            backend.Spec = address.Replace("http://", "ws://").TrimEnd('/');
            return backend;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
            await _app.DisposeAsync();
        }
    }
}
