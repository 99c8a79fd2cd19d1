using System.Net;
using System.Text.Json;
using Switchboard.Client.Tests.Gateway;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests;

/// <summary>The client's life cycle and connect retries, against a scripted gateway and no node.</summary>
public sealed class SwitchboardClientTests
{
    private static SwitchboardClientOptions Options(HttpMessageHandler handler, int attempts = 4) => new()
    {
        GatewayUrl = new Uri("http://127.0.0.1:7000"),
        DevUserId = "alice",
        HttpHandler = handler,
        MaxConnectAttempts = attempts,
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(1),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task ConnectAsync_GatewayRefusesTheToken_ThrowsUnauthorizedWithoutRetrying()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.Unauthorized, "invalid_token", "expired"));
        await using var client = new SwitchboardClient(Options(handler));

        var error = await Should.ThrowAsync<SwitchboardException>(client.ConnectAsync().WithTimeout("connect"));

        error.Reason.ShouldBe(SwitchboardErrorReason.Unauthorized);
        error.Code.ShouldBe("invalid_token");
        handler.Count.ShouldBe(1);
        client.State.ShouldBe(SwitchboardClientState.Disconnected);
    }

    [Fact]
    public async Task ConnectAsync_GatewayKeepsAnswering503_GivesUpAfterMaxConnectAttempts()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "no_nodes", "no node is live"));
        await using var client = new SwitchboardClient(Options(handler, attempts: 3));

        var error = await Should.ThrowAsync<SwitchboardException>(client.ConnectAsync().WithTimeout("connect"));

        error.Reason.ShouldBe(SwitchboardErrorReason.Unavailable);
        error.Code.ShouldBe("no_nodes");
        handler.Count.ShouldBe(3);
    }

    [Fact]
    public async Task ConnectAsync_503ThenTicket_RetriesThroughTheGateway()
    {
        // The second answer points at a closed port: the dial fails and the client asks the gateway again.
        var handler = new FakeGatewayHandler(i => i == 0
            ? FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "cluster_full", "full")
            : FakeGatewayHandler.Ticket("ws://127.0.0.1:1/v1/ws"));
        await using var client = new SwitchboardClient(Options(handler, attempts: 4));

        var error = await Should.ThrowAsync<SwitchboardException>(client.ConnectAsync().WithTimeout("connect"));

        error.Reason.ShouldBe(SwitchboardErrorReason.Unavailable);
        error.Message.ShouldContain("127.0.0.1:1");
        handler.Count.ShouldBe(4);
    }

    [Fact]
    public async Task ConnectAsync_HonoursRetryAfter()
    {
        var time = new ManualTimeProvider();
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "no_nodes", "later", TimeSpan.FromSeconds(5)));
        var options = Options(handler, attempts: 2);
        options.TimeProvider = time;
        options.ConnectTimeout = TimeSpan.FromMinutes(1);
        await using var client = new SwitchboardClient(options);

        var connect = client.ConnectAsync();
        await Eventually.TrueAsync(() => handler.Count == 1, "the first gateway request");
        time.Advance(TimeSpan.FromSeconds(4.9));
        handler.Count.ShouldBe(1);
        time.Advance(TimeSpan.FromSeconds(0.2));
        await Eventually.TrueAsync(() => handler.Count == 2, "the retry after Retry-After");

        (await Should.ThrowAsync<SwitchboardException>(connect.WithTimeout("connect"))).Reason.ShouldBe(SwitchboardErrorReason.Unavailable);
    }

    [Fact]
    public async Task ConnectAsync_Cancelled_ReturnsToDisconnected()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "no_nodes", "later", TimeSpan.FromMinutes(10)));
        await using var client = new SwitchboardClient(Options(handler));
        using var cts = new CancellationTokenSource();

        var connect = client.ConnectAsync(cts.Token);
        await Eventually.TrueAsync(() => handler.Count == 1, "the first gateway request");
        cts.Cancel();

        await Should.ThrowAsync<OperationCanceledException>(connect.WithTimeout("cancelled connect"));
        client.State.ShouldBe(SwitchboardClientState.Disconnected);
    }

    [Fact]
    public async Task DisposeAsync_DuringConnect_StopsIt()
    {
        var handler = new FakeGatewayHandler(_ => FakeGatewayHandler.Error(HttpStatusCode.ServiceUnavailable, "no_nodes", "later", TimeSpan.FromMinutes(10)));
        var client = new SwitchboardClient(Options(handler));

        var connect = client.ConnectAsync();
        await Eventually.TrueAsync(() => handler.Count == 1, "the first gateway request");
        await client.DisposeAsync().AsTask().WithTimeout("dispose");

        (await Should.ThrowAsync<SwitchboardException>(connect.WithTimeout("connect"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
        client.State.ShouldBe(SwitchboardClientState.Closed);
    }

    [Fact]
    public async Task Commands_BeforeConnect_ThrowNotConnected()
    {
        await using var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));
        using var data = JsonDocument.Parse("1");

        (await Should.ThrowAsync<SwitchboardException>(client.SendAsync("user:bob", data.RootElement).WithTimeout("send"))).Reason.ShouldBe(SwitchboardErrorReason.NotConnected);
        (await Should.ThrowAsync<SwitchboardException>(client.JoinAsync("room1").WithTimeout("join"))).Reason.ShouldBe(SwitchboardErrorReason.NotConnected);
        (await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("ping"))).Reason.ShouldBe(SwitchboardErrorReason.NotConnected);
        client.Groups.ShouldBeEmpty();
    }

    [Fact]
    public async Task SendRawAsync_InvalidJson_ThrowsArgumentException()
    {
        await using var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));

        await Should.ThrowAsync<ArgumentException>(client.SendRawAsync("all", "{oops"u8.ToArray()).WithTimeout("send"));
    }

    [Fact]
    public async Task Commands_AfterDispose_ThrowClosed()
    {
        var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));
        await client.DisposeAsync();

        (await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("ping"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
        await Should.ThrowAsync<ObjectDisposedException>(client.ConnectAsync().WithTimeout("connect"));
    }

    [Fact]
    public async Task ReadAllAsync_EndsWhenDisposed()
    {
        var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));
        var read = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var _ in client.ReadAllAsync())
            {
                count++;
            }
            return count;
        });

        await client.DisposeAsync();

        (await read.WithTimeout("the reader to end")).ShouldBe(0);
    }

    [Fact]
    public async Task ReadAllAsync_SecondReader_Throws()
    {
        await using var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));
        await using var first = client.ReadAllAsync().GetAsyncEnumerator();
        var pending = first.MoveNextAsync();

        await using var second = client.ReadAllAsync().GetAsyncEnumerator();
        await Should.ThrowAsync<InvalidOperationException>(second.MoveNextAsync().AsTask().WithTimeout("second reader"));
        await client.DisposeAsync();
        (await pending.AsTask().WithTimeout("first reader")).ShouldBeFalse();
    }

    [Fact]
    public async Task ReadAllAsync_WithOnMessage_Throws()
    {
        await using var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))))
        {
            OnMessage = _ => ValueTask.CompletedTask,
        };

        await using var reader = client.ReadAllAsync().GetAsyncEnumerator();
        await Should.ThrowAsync<InvalidOperationException>(reader.MoveNextAsync().AsTask().WithTimeout("reader"));
    }

    [Fact]
    public async Task DisposeAsync_Twice_IsFine()
    {
        var client = new SwitchboardClient(Options(new FakeGatewayHandler(_ => throw new InvalidOperationException("not called"))));
        await client.DisposeAsync();
        await client.DisposeAsync();
        client.State.ShouldBe(SwitchboardClientState.Closed);
    }
}
