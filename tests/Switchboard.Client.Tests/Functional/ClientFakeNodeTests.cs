using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Client.Tests.Gateway;
using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests.Functional;

/// <summary>The SDK against a scripted node on a real socket: drops, fragments, oversized frames, <c>reconnect</c> frames.</summary>
public sealed class ClientFakeNodeTests
{
    private static SwitchboardClient NewClient(FakeNode node, out FakeGatewayHandler gateway, Action<SwitchboardClientOptions>? configure = null)
    {
        gateway = new FakeGatewayHandler(i => FakeGatewayHandler.Ticket(node.WebSocketUrl.AbsoluteUri, token: $"ticket-{i}"));
        return NewClient(gateway, configure);
    }

    private static SwitchboardClient NewClient(FakeGatewayHandler gateway, Action<SwitchboardClientOptions>? configure = null)
    {
        var options = new SwitchboardClientOptions
        {
            GatewayUrl = new Uri("http://127.0.0.1:7000"),
            DevUserId = "alice",
            HttpHandler = gateway,
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(10),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(100),
            CommandTimeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            // The scripts speak only what each test needs; resume is switched on by the tests about it.
            ResumeSessions = false,
        };
        configure?.Invoke(options);
        return new SwitchboardClient(options);
    }

    [Fact]
    public async Task CommandInFlight_WhenTheConnectionDrops_FailsWithConnectionLost_AndIsNeverResent()
    {
        var pings = new ConcurrentQueue<(int Connection, string Id)>();
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                // Take the ping, then drop without a reply.
                var ping = (await c.ReceiveAsync())!.Value;
                pings.Enqueue((0, ping.GetProperty("id").GetString()!));
                c.Socket.Abort();
                return;
            }
            await c.ReplyOkUntilClosedAsync(command => pings.Enqueue((c.Index, command.GetProperty("id").GetString()!)));
        });
        await using var client = NewClient(node, out _);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("the ping in flight"));

        error.Reason.ShouldBe(SwitchboardErrorReason.ConnectionLost);
        await Eventually.TrueAsync(() => events.Connected.Count == 2, "the reconnect");
        await client.PingAsync().WithTimeout("a ping on the new connection");
        pings.Count.ShouldBe(2);
        pings.Select(p => p.Id).Distinct().Count().ShouldBe(2);
        pings.Count(p => p.Connection == 1).ShouldBe(1);
        events.Disconnected.ShouldHaveSingleItem().WillReconnect.ShouldBeTrue();
    }

    /// <summary>
    /// A node whose first connection takes one command (as a node that carried it out and died before answering) and
    /// drops; later connections answer ok. Every command it reads is recorded with its connection's index.
    /// </summary>
    private static Task<FakeNode> StartNodeThatDiesOnTheFirstCommandAsync(ConcurrentQueue<(int Connection, JsonElement Frame)> commands) =>
        FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                commands.Enqueue((0, (await c.ReceiveAsync())!.Value));
                c.Socket.Abort();
                return;
            }
            await c.ReplyOkUntilClosedAsync(command => commands.Enqueue((c.Index, command)));
        });

    [Fact]
    public async Task SendInFlight_WhenTheConnectionDrops_IsSentAgainWithTheSameKey_OnTheNewConnection()
    {
        var sends = new ConcurrentQueue<(int Connection, JsonElement Frame)>();
        await using var node = await StartNodeThatDiesOnTheFirstCommandAsync(sends);
        await using var client = NewClient(node, out _);
        await client.ConnectAsync().WithTimeout("connect");

        await client.SendAsync("user:bob", JsonSerializer.SerializeToElement(7)).WithTimeout("the send, answered on the new connection");
        await client.SendAsync("user:bob", JsonSerializer.SerializeToElement(8)).WithTimeout("the next send");

        var frames = sends.ToList();
        frames.Select(f => f.Connection).ShouldBe([0, 1, 1]);
        var key = frames[0].Frame.GetProperty("key").GetString()!;
        key.Length.ShouldBeInRange(1, 64);
        frames[1].Frame.GetProperty("key").GetString().ShouldBe(key, "the same send, so the cluster carries it out once");
        frames[1].Frame.GetProperty("data").GetInt32().ShouldBe(7);
        frames[2].Frame.GetProperty("key").GetString().ShouldNotBe(key, "another send is another message");
    }

    [Fact]
    public async Task SendsInFlight_WhenTheConnectionDrops_AreSentAgainInCallOrder_BeforeSendsMadeWhileReconnecting()
    {
        const int InFlight = 40;
        const int Later = 20;
        var sends = new ConcurrentQueue<(int Connection, int Data)>();
        var laterMade = new TaskCompletionSource();
        await using var node = await FakeNode.StartAsync(async c =>
        {
            if (c.Index == 0)
            {
                // Takes every send unanswered, as a node that carried them out and died.
                await c.SendWelcomeAsync();
                for (var i = 0; i < InFlight; i++)
                {
                    sends.Enqueue((0, (await c.ReceiveAsync())!.Value.GetProperty("data").GetInt32()));
                }
                c.Socket.Abort();
                return;
            }
            // The next connection is welcomed once the application has made more sends, which wait for it.
            await laterMade.Task.WaitAsync(Eventually.DefaultTimeout);
            await c.SendWelcomeAsync();
            await c.ReplyOkUntilClosedAsync(command => sends.Enqueue((c.Index, command.GetProperty("data").GetInt32())));
        });
        await using var client = NewClient(node, out _);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");

        var inFlight = Enumerable.Range(0, InFlight).Select(i => client.SendAsync("user:bob", JsonSerializer.SerializeToElement(i))).ToArray();
        await Eventually.TrueAsync(() => events.Disconnected.Count == 1, "the first connection to drop");
        var later = Enumerable.Range(InFlight, Later).Select(i => client.SendAsync("user:bob", JsonSerializer.SerializeToElement(i))).ToArray();
        laterMade.SetResult();
        await Task.WhenAll(inFlight.Concat(later)).WithTimeout("every send, answered on the new connection");

        sends.Where(s => s.Connection == 0).Select(s => s.Data).ShouldBe(Enumerable.Range(0, InFlight));
        sends.Where(s => s.Connection == 1).Select(s => s.Data).ShouldBe(Enumerable.Range(0, InFlight + Later),
            "the sends lost with the connection go out again first, in the order they were made, then the later ones");
    }

    [Fact]
    public async Task SendInFlight_WithRetrySendsOff_FailsWithConnectionLost_AndIsNeverResent()
    {
        var sends = new ConcurrentQueue<(int Connection, JsonElement Frame)>();
        await using var node = await StartNodeThatDiesOnTheFirstCommandAsync(sends);
        await using var client = NewClient(node, out _, o => o.RetrySends = false);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(client.SendAsync("user:bob", JsonSerializer.SerializeToElement(7)).WithTimeout("the send in flight"));

        error.Reason.ShouldBe(SwitchboardErrorReason.ConnectionLost);
        await Eventually.TrueAsync(() => events.Connected.Count == 2, "the reconnect");
        await client.PingAsync().WithTimeout("a ping on the new connection");
        sends.Count(s => s.Frame.GetProperty("type").GetString() == "send").ShouldBe(1);
        sends.First().Frame.TryGetProperty("key", out _).ShouldBeFalse("no key when sends are not retried");
    }

    [Theory]
    [InlineData(1009, 1)] // the node refuses the send itself (too big): sending it again would be refused again
    [InlineData(1008, 1)]
    [InlineData(1011, 4)] // a node failing for its own reasons: sent again, three times at most
    [InlineData(null, 4)] // dropped without a close
    public async Task SendInFlight_WhenEveryConnectionEndsOnIt_IsSentAgainOnlyForCausesNotItsOwn_AndAtMostThreeTimes(int? close, int expectedSends)
    {
        var sends = new ConcurrentQueue<int>();
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (await c.ReceiveAsync() is not { } command)
            {
                return;
            }
            if (command.GetProperty("type").GetString() == "ping")
            {
                await c.SendAsync(ServerFrames.ReplyOk(command.GetProperty("id").GetString()!));
                await c.ReplyOkUntilClosedAsync();
                return;
            }
            sends.Enqueue(c.Index);
            if (close is { } status)
            {
                await c.CloseAsync(status, "refused");
            }
            else
            {
                c.Socket.Abort();
            }
        });
        await using var client = NewClient(node, out _, o => o.CommandTimeout = TimeSpan.FromSeconds(20));
        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(client.SendAsync("user:bob", JsonSerializer.SerializeToElement(7)).WithTimeout("the send"));

        error.Reason.ShouldBe(SwitchboardErrorReason.ConnectionLost);
        sends.Count.ShouldBe(expectedSends);
        // The client itself carries on.
        await client.PingAsync().WithTimeout("a ping on the next connection");
    }

    [Fact]
    public async Task SendInFlight_WithoutAutoReconnect_FailsWithConnectionLost()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            await c.ReceiveAsync();
            c.Socket.Abort();
        });
        await using var client = NewClient(node, out _, o => o.AutoReconnect = false);
        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(client.SendAsync("user:bob", JsonSerializer.SerializeToElement(7)).WithTimeout("the send"));

        error.Reason.ShouldBe(SwitchboardErrorReason.ConnectionLost, "the send may have been carried out: the caller must hear that");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AMessageWhoseIdCameBefore_IsDroppedAcrossSessions_UnlessTheClientTakesEveryCopy(bool dropRepeats)
    {
        var askedForIds = new ConcurrentQueue<bool>();
        await using var node = await FakeNode.StartAsync(async c =>
        {
            askedForIds.Enqueue(c.AsksForIds);
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                // The session is then lost with its node; the second copy comes in the next session, with seq 1 again.
                await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":1,"mid":"-5","seq":1}""");
                await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":2,"mid":"9","seq":2}""");
                await c.CloseAsync(CloseCodes.InternalError, "lost");
                return;
            }
            await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":1,"mid":"-5","seq":1}""");
            await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":3,"mid":"10","seq":2}""");
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out _, o => o.DropRepeats = dropRepeats);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();
        await client.ConnectAsync().WithTimeout("connect");

        var data = new List<int>();
        while (data.LastOrDefault() != 3)
        {
            data.Add((await messages.NextAsync("the next message")).Data.GetInt32());
        }

        data.ShouldBe(dropRepeats ? [1, 2, 3] : [1, 2, 1, 3]);
        askedForIds.ShouldAllBe(asked => asked == dropRepeats);
    }

    [Fact]
    public async Task CommandsWhileReconnecting_WaitAndGoOutOnTheNewConnection()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondConnectionCommands = new TaskCompletionSource<List<JsonElement>>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                await c.CloseAsync(CloseCodes.ServiceRestart, "restarting");
                return;
            }
            secondConnectionCommands.TrySetResult(await c.ReplyOkUntilClosedAsync());
        });
        var gateway = FakeGatewayHandler.Async(async i =>
        {
            if (i > 0)
            {
                await gate.Task;
            }
            return FakeGatewayHandler.Ticket(node.WebSocketUrl.AbsoluteUri);
        });
        var client = NewClient(gateway);
        await client.ConnectAsync().WithTimeout("connect");
        await Eventually.TrueAsync(() => client.State == SwitchboardClientState.Reconnecting, "the client to notice the restart");

        var ping = client.PingAsync();
        ping.IsCompleted.ShouldBeFalse();
        gate.SetResult();

        await ping.WithTimeout("the ping after the reconnect");
        await client.DisposeAsync();
        (await secondConnectionCommands.Task.WithTimeout("the node to see the close")).ShouldHaveSingleItem().GetProperty("type").GetString().ShouldBe("ping");
    }

    [Fact]
    public async Task ReconnectFrame_ClosesNormally_AndReconnectsThroughTheGateway()
    {
        var firstClose = new TaskCompletionSource<WebSocketCloseStatus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                await c.SendAsync("""{"type":"reconnect","reason":"drain","url":"ws://127.0.0.1:1/v1/ws","token":"t"}""");
                // Sent after the reconnect frame, before the close: still delivered.
                await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":"last words","seq":1}""");
                (await c.ReceiveAsync()).ShouldBeNull();
                firstClose.TrySetResult(c.Socket.CloseStatus);
                await c.CloseAsync(CloseCodes.Normal);
                return;
            }
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out var gateway);
        var events = new ClientEvents(client);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();

        await client.ConnectAsync().WithTimeout("connect");

        (await firstClose.Task.WithTimeout("the client to close the first connection")).ShouldBe(WebSocketCloseStatus.NormalClosure);
        (await messages.NextAsync("the message sent before the close")).Data.GetString().ShouldBe("last words");
        await Eventually.TrueAsync(() => events.Connected.Count == 2, "the reconnect");
        client.ConnectionId.ShouldBe("conn-1");
        gateway.Count.ShouldBe(2);
        node.Accepted.ShouldBe(2);
        events.Disconnected.ShouldHaveSingleItem().WillReconnect.ShouldBeTrue();
    }

    [Fact]
    public async Task CommandAfterAReconnectFrame_BeforeTheNodesClose_WaitsForTheNextConnection()
    {
        var clientClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var letGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pings = new ConcurrentQueue<int>();
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                await c.SendAsync("""{"type":"reconnect","reason":"drain"}""");
                (await c.ReceiveAsync()).ShouldBeNull("the client closes after the reconnect frame");
                clientClosed.TrySetResult();
                // A node still flushing what it owed the client: its close comes a moment later.
                await letGo.Task;
                await c.CloseAsync(CloseCodes.Normal);
                return;
            }
            await c.ReplyOkUntilClosedAsync(command => pings.Enqueue(c.Index));
        });
        await using var client = NewClient(node, out _);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");
        await clientClosed.Task.WithTimeout("the client to close the first connection");

        var ping = client.PingAsync();
        letGo.SetResult();

        await ping.WithTimeout("the ping, carried out on the next connection");
        pings.ShouldBe([1]);
        events.Connected.Count.ShouldBe(2);
    }

    [Fact]
    public async Task CloseBeforeWelcome_AsksTheGatewayAgain()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            switch (c.Index)
            {
                case 0:
                    await c.CloseAsync(CloseCodes.PolicyViolation, "ticket expired");
                    return;
                case 1:
                    await c.CloseAsync(CloseCodes.TryAgainLater, "node is full");
                    return;
                default:
                    await c.SendWelcomeAsync();
                    await c.ReplyOkUntilClosedAsync();
                    return;
            }
        });
        await using var client = NewClient(node, out var gateway);
        var events = new ClientEvents(client);

        await client.ConnectAsync().WithTimeout("connect");

        client.ConnectionId.ShouldBe("conn-2");
        gateway.Requests.Select(r => r.Body).ShouldAllBe(b => b == """{"userId":"alice"}""");
        gateway.Count.ShouldBe(3);
        events.FailedAttempts.Select(e => e.Message).ShouldSatisfyAllConditions(
            m => m.ShouldContain(m => m.Contains("1008")),
            m => m.ShouldContain(m => m.Contains("1013")));
    }

    [Fact]
    public async Task FragmentedFrame_IsAssembled()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            var frame = Encoding.UTF8.GetBytes($$"""{"type":"message","from":"user:bob","to":"user:alice","data":"{{new string('x', 50_000)}}","seq":1}""");
            for (var offset = 0; offset < frame.Length; offset += 7000)
            {
                var count = Math.Min(7000, frame.Length - offset);
                await c.Socket.SendAsync(frame.AsMemory(offset, count), WebSocketMessageType.Text, offset + count == frame.Length, CancellationToken.None);
            }
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out _);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();
        await client.ConnectAsync().WithTimeout("connect");

        var message = await messages.NextAsync("the fragmented message");

        message.Data.GetString()!.Length.ShouldBe(50_000);
    }

    [Fact]
    public async Task FrameLargerThanMaxFrameBytes_ClosesWith1009_AndReconnects()
    {
        var firstClose = new TaskCompletionSource<WebSocketCloseStatus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            if (c.Index == 0)
            {
                await c.SendAsync($$"""{"type":"message","from":"user:bob","to":"user:alice","data":"{{new string('x', 4096)}}","seq":1}""");
                (await c.ReceiveAsync()).ShouldBeNull();
                firstClose.TrySetResult(c.Socket.CloseStatus);
                return;
            }
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out _, o => o.MaxFrameBytes = 2048);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");

        (await firstClose.Task.WithTimeout("the client to close")).ShouldBe(WebSocketCloseStatus.MessageTooBig);
        await Eventually.TrueAsync(() => events.Connected.Count == 2, "the reconnect");
        events.Disconnected.ShouldHaveSingleItem().CloseStatus.ShouldBe(CloseCodes.MessageTooBig);
    }

    [Fact]
    public async Task ErrorFrame_RaisesErrorReceived_AndBadOrUnknownFramesAreSkipped()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            await c.SendAsync("""{"type":"error","code":"bad_json","message":"the frame is not valid JSON"}""");
            await c.SendAsync("""{"type":"presence-v2","user":"bob"}""");
            await c.SendAsync("""not json at all""");
            await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":1,"seq":1}""");
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out _);
        var events = new ClientEvents(client);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();
        await client.ConnectAsync().WithTimeout("connect");

        (await messages.NextAsync("the message after the bad frames")).Seq.ShouldBe(1);
        var error = events.Errors.ShouldHaveSingleItem();
        error.Code.ShouldBe(ErrorCodes.BadJson);
        error.Message.ShouldBe("the frame is not valid JSON");
        client.State.ShouldBe(SwitchboardClientState.Connected);
    }

    [Fact]
    public async Task NoReply_CommandTimesOut()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            while (await c.ReceiveAsync() is not null)
            {
                // Never answers.
            }
        });
        await using var client = NewClient(node, out _, o => o.CommandTimeout = TimeSpan.FromMilliseconds(200));
        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("the ping"));

        error.Reason.ShouldBe(SwitchboardErrorReason.Timeout);
        client.State.ShouldBe(SwitchboardClientState.Connected);
    }

    [Fact]
    public async Task GatewayRefusesTheReconnect_ClientCloses_AndTheReaderSeesWhy()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            await c.CloseAsync(CloseCodes.ServiceRestart, "restarting");
        });
        var gateway = new FakeGatewayHandler(i => i == 0
            ? FakeGatewayHandler.Ticket(node.WebSocketUrl.AbsoluteUri)
            : FakeGatewayHandler.Error(HttpStatusCode.Unauthorized, "invalid_token", "the token expired"));
        await using var client = NewClient(gateway);
        var events = new ClientEvents(client);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();

        await client.ConnectAsync().WithTimeout("connect");

        var error = await Should.ThrowAsync<SwitchboardException>(messages.MoveNextAsync().AsTask().WithTimeout("the reader to fail"));
        error.Reason.ShouldBe(SwitchboardErrorReason.Unauthorized);
        error.Code.ShouldBe("invalid_token");
        client.State.ShouldBe(SwitchboardClientState.Closed);
        await Eventually.TrueAsync(() => events.Disconnected.Count == 2, "both disconnect events");
        events.Disconnected.Select(d => d.WillReconnect).ShouldBe([true, false]);
        (await Should.ThrowAsync<SwitchboardException>(client.PingAsync().WithTimeout("ping"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
    }

    [Fact]
    public async Task CloseForTooManyInvalidFrames_DoesNotReconnect()
    {
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            await c.CloseAsync(CloseCodes.TooManyInvalidFrames, "too many invalid frames");
        });
        await using var client = NewClient(node, out var gateway);
        var events = new ClientEvents(client);
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();

        await client.ConnectAsync().WithTimeout("connect");

        await Should.ThrowAsync<SwitchboardException>(messages.MoveNextAsync().AsTask().WithTimeout("the reader to fail"));
        client.State.ShouldBe(SwitchboardClientState.Closed);
        await Eventually.TrueAsync(() => events.Disconnected.Count == 1, "the disconnect event");
        events.Disconnected.Single().WillReconnect.ShouldBeFalse();
        node.Accepted.ShouldBe(1);
    }

    [Fact]
    public async Task DisposeAsync_FailsCommandsInFlight_AndClosesWith1000()
    {
        var closed = new TaskCompletionSource<WebSocketCloseStatus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            await c.SendWelcomeAsync();
            while (await c.ReceiveAsync() is not null)
            {
                // Never answers.
            }
            closed.TrySetResult(c.Socket.CloseStatus);
            await c.CloseAsync(CloseCodes.Normal);
        });
        var client = NewClient(node, out _);
        await client.ConnectAsync().WithTimeout("connect");
        var ping = client.PingAsync();

        await client.DisposeAsync().AsTask().WithTimeout("dispose");

        (await Should.ThrowAsync<SwitchboardException>(ping.WithTimeout("the ping"))).Reason.ShouldBe(SwitchboardErrorReason.Closed);
        (await closed.Task.WithTimeout("the node to see the close")).ShouldBe(WebSocketCloseStatus.NormalClosure);
    }

    [Fact]
    public async Task Reconnect_ResumesWithSessionAndLastSeq_ReportsTheGap_AndDropsDuplicates()
    {
        var resumeFrame = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        var dropNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            if (c.Index == 0)
            {
                await c.SendWelcomeAsync();
                await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":1,"seq":1}""");
                await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":2,"seq":2}""");
                // Dropped once the client has both: a reset would discard what it had not read yet.
                await dropNow.Task.WaitAsync(Eventually.DefaultTimeout);
                c.Socket.Abort();
                return;
            }
            resumeFrame.TrySetResult((await c.ReceiveAsync())!.Value);
            await c.SendAsync("""{"type":"welcome","connectionId":"conn-1","userId":"alice","node":"fake-node","session":"session-0","resumed":false,"replayed":1,"missedFrom":3,"missedTo":4}""");
            // A copy of seq 2 (already received) must not reach the application twice.
            await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":2,"seq":2}""");
            await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":5,"seq":5}""");
            await c.ReplyOkUntilClosedAsync();
        });
        await using var client = NewClient(node, out var gateway, o => o.ResumeSessions = true);
        var lost = new ConcurrentQueue<SwitchboardMessagesLostEventArgs>();
        client.MessagesLost += (_, e) => lost.Enqueue(e);
        await client.ConnectAsync().WithTimeout("connect");
        await using var messages = client.ReadAllAsync().GetAsyncEnumerator();

        (await messages.NextAsync("1")).Seq.ShouldBe(1);
        (await messages.NextAsync("2")).Seq.ShouldBe(2);
        dropNow.SetResult();
        var fifth = await messages.NextAsync("5, with no second copy of 2 before it");

        fifth.Seq.ShouldBe(5);
        var resume = await resumeFrame.Task.WithTimeout("the resume frame");
        resume.GetProperty("type").GetString().ShouldBe("resume");
        resume.GetProperty("session").GetString().ShouldBe("session-0");
        resume.GetProperty("lastSeq").GetInt64().ShouldBe(2);
        gateway.Requests.Last().Uri.Query.ShouldBe("?session=session-0");
        var gap = lost.ShouldHaveSingleItem();
        (gap.FromSeq, gap.ToSeq, gap.SessionLost).ShouldBe((3L, (long?)4L, false));
    }

    [Fact]
    public async Task ReJoinThatFails_OnANewSession_TheNextReconnectResumesTheNewSession()
    {
        var resumes = new ConcurrentQueue<JsonElement>();
        var dropFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var dropSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var node = await FakeNode.StartAsync(async c =>
        {
            switch (c.Index)
            {
                case 0:
                    await c.SendWelcomeAsync();
                    var join = (await c.ReceiveAsync())!.Value;
                    await c.SendAsync(ServerFrames.ReplyOk(join.GetProperty("id").GetString()!));
                    await dropFirst.Task.WaitAsync(Eventually.DefaultTimeout);
                    c.Socket.Abort();
                    return;
                case 1:
                    // session-0 is gone: a new session, with a message of its own; then a drop before the re-join's reply.
                    resumes.Enqueue((await c.ReceiveAsync())!.Value);
                    await c.SendAsync("""{"type":"welcome","connectionId":"conn-1","userId":"alice","node":"fake-node","session":"session-1","resumed":false}""");
                    await c.SendAsync("""{"type":"message","from":"user:bob","to":"user:alice","data":1,"seq":1}""");
                    await c.ReceiveAsync();
                    await dropSecond.Task.WaitAsync(Eventually.DefaultTimeout);
                    c.Socket.Abort();
                    return;
                default:
                    resumes.Enqueue((await c.ReceiveAsync())!.Value);
                    await c.SendAsync("""{"type":"welcome","connectionId":"conn-2","userId":"alice","node":"fake-node","session":"session-1","resumed":true,"replayed":0}""");
                    await c.ReplyOkUntilClosedAsync();
                    return;
            }
        });
        await using var client = NewClient(node, out var gateway, o => o.ResumeSessions = true);
        var events = new ClientEvents(client);
        await client.ConnectAsync().WithTimeout("connect");
        await client.JoinAsync("g").WithTimeout("join");

        dropFirst.SetResult();
        await Eventually.TrueAsync(() => client.LastSeq == 1, "the new session's first message");
        dropSecond.SetResult();
        await Eventually.TrueAsync(() => client.State == SwitchboardClientState.Connected && events.Connected.Count == 2, "the reconnect after the failed re-join");

        var asked = resumes.ToList();
        asked.Count.ShouldBe(2);
        asked[0].GetProperty("session").GetString().ShouldBe("session-0");
        asked[1].GetProperty("session").GetString().ShouldBe("session-1", "the session whose messages the client has, not the one it lost");
        asked[1].GetProperty("lastSeq").GetInt64().ShouldBe(1);
        gateway.Requests.Last().Uri.Query.ShouldBe("?session=session-1");
        client.SessionId.ShouldBe("session-1");
        events.Lost.ShouldHaveSingleItem().PreviousSessionId.ShouldBe("session-0");
    }
}
