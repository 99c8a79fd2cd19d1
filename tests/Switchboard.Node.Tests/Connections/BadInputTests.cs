using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Connections;

/// <summary>Bad client input over a real socket: clear answers, and the neighbours never notice.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 1, o => o.ConfigureNode = n =>
    {
        n.MaxMessageBytes = 4096;
        n.ProtocolErrorBudget = 30;
        n.MaxGroupsPerConnection = 3;
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    public static TheoryData<string, string> FramesWithoutId => new()
    {
        { "not json", "bad_json" },
        { "[1,2,3]", "bad_json" },
        { "{\"type\":\"send\"", "bad_json" },
        { "{}", "missing_type" },
        { "{\"type\":42}", "missing_type" },
        { "{\"type\":\"teleport\"}", "unknown_type" },
        { "{\"type\":\"send\",\"data\":1}", "missing_field" },
        { "{\"type\":\"send\",\"to\":\"user:bob\"}", "missing_field" },
        { "{\"type\":\"send\",\"to\":7,\"data\":1}", "invalid_field" },
        { "{\"type\":\"send\",\"to\":\"planet:mars\",\"data\":1}", "bad_target" },
        { "{\"type\":\"send\",\"to\":\"user:\",\"data\":1}", "bad_target" },
        { "{\"type\":\"join\"}", "missing_field" },
        { "{\"type\":\"join\",\"group\":{}}", "invalid_field" },
        { "{\"type\":\"ack\",\"seq\":-1}", "invalid_field" },
        { "{\"type\":\"resume\",\"session\":\"s\",\"lastSeq\":3}", "resume_not_first" },
    };

    [Theory]
    [MemberData(nameof(FramesWithoutId))]
    public async Task BadFrameWithoutId_GetsAnErrorFrame_AndTheConnectionGoesOn(string frame, string code)
    {
        await using var client = await _cluster.ConnectAsync("bad-" + code, "node-1");
        await client.SendAsync(frame);
        var error = await client.ReceiveAsync("error frame");
        error.GetProperty("type").GetString().ShouldBe("error");
        error.GetProperty("code").GetString().ShouldBe(code);
        error.GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace();
        (await client.CommandAsync("""{"type":"ping","id":"after"}""", "after")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [InlineData("""{"type":"teleport","id":"x1"}""", "unknown_type")]
    [InlineData("""{"type":"send","to":"bogus:1","data":1,"id":"x1"}""", "bad_target")]
    [InlineData("""{"type":"send","to":"user:bob","id":"x1"}""", "missing_field")]
    [InlineData("""{"type":"join","group":"","id":"x1"}""", "invalid_field")]
    [InlineData("""{"type":"send","to":["user:bob"],"data":1,"id":"x1"}""", "invalid_field")]
    public async Task BadCommandWithId_GetsAFailedReply(string frame, string code)
    {
        await using var client = await _cluster.ConnectAsync("reply-" + code, "node-1");
        var reply = await client.CommandAsync(frame, "x1");
        reply.GetProperty("ok").GetBoolean().ShouldBeFalse();
        reply.GetProperty("error").GetProperty("code").GetString().ShouldBe(code);
    }

    [Fact]
    public async Task JoiningPastTheGroupLimit_IsRefusedWithTooManyGroups_AndRejoiningAMemberGroupIsFine()
    {
        await using var client = await _cluster.ConnectAsync("collector", "node-1");
        for (var i = 0; i < 3; i++)
        {
            (await client.CommandAsync($$"""{"type":"join","group":"g{{i}}","id":"j{{i}}"}""", $"j{i}")).GetProperty("ok").GetBoolean().ShouldBeTrue();
        }

        var refused = await client.CommandAsync("""{"type":"join","group":"g3","id":"over"}""", "over");
        refused.GetProperty("error").GetProperty("code").GetString().ShouldBe("too_many_groups");
        await client.SendAsync("""{"type":"join","group":"g4"}""");
        var error = await client.ReceiveAsync("an error frame for the join without id");
        error.GetProperty("type").GetString().ShouldBe("error");
        error.GetProperty("code").GetString().ShouldBe("too_many_groups");
        (await client.CommandAsync("""{"type":"join","group":"g1","id":"again"}""", "again")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task BinaryFrame_GetsAnErrorFrame()
    {
        await using var client = await _cluster.ConnectAsync("binary", "node-1");
        await client.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None).WaitAsync(Eventually.DefaultTimeout);
        (await client.ReceiveAsync("error")).GetProperty("code").GetString().ShouldBe("binary_not_supported");
    }

    [Fact]
    public async Task OversizedFrame_ClosesWith1009_WhileANeighbourKeepsItsMessages()
    {
        await using var neighbour = await _cluster.ConnectAsync("neighbour-big", "node-1");
        await using var sender = await _cluster.ConnectAsync("sender-big", "node-1");
        await using var offender = await _cluster.ConnectAsync("offender-big", "node-1");
        for (var i = 1; i <= 50; i++)
        {
            await sender.SendAsync($$"""{"type":"send","to":"user:neighbour-big","data":{{i}}}""");
        }

        await offender.SendAsync($$"""{"type":"send","to":"all","data":"{{new string('x', 5000)}}"}""");
        (await offender.ReceiveCloseAsync("1009")).ShouldBe(1009);

        for (var i = 1; i <= 50; i++)
        {
            var message = await neighbour.ReceiveAsync($"message {i}");
            message.GetProperty("data").GetInt32().ShouldBe(i);
            message.GetProperty("seq").GetInt64().ShouldBe(i);
        }
    }

    [Fact]
    public async Task RepeatedInvalidFrames_CloseWith3002()
    {
        await using var client = await _cluster.ConnectAsync("abuser", "node-1");
        for (var i = 0; i < 40 && client.Socket.State == WebSocketState.Open; i++)
        {
            await client.Socket.SendAsync(Encoding.UTF8.GetBytes("garbage"), WebSocketMessageType.Text, true, CancellationToken.None).WaitAsync(Eventually.DefaultTimeout);
        }
        (await client.ReceiveCloseAsync("3002")).ShouldBe(3002);
        client.Socket.CloseStatusDescription!.ShouldContain("invalid frames");
    }

    [Fact]
    public async Task EmptyTextFrame_IsBadJson()
    {
        await using var client = await _cluster.ConnectAsync("empty", "node-1");
        await client.Socket.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, CancellationToken.None).AsTask().WaitAsync(Eventually.DefaultTimeout);
        (await client.ReceiveAsync("error")).GetProperty("code").GetString().ShouldBe("bad_json");
    }

    [Fact]
    public async Task FragmentedFrame_IsReassembled()
    {
        await using var client = await _cluster.ConnectAsync("fragments", "node-1");
        var parts = new[] { "{\"type\":\"pi", "ng\",\"id\":\"", "frag\"}" };
        for (var i = 0; i < parts.Length; i++)
        {
            await client.Socket.SendAsync(Encoding.UTF8.GetBytes(parts[i]), WebSocketMessageType.Text, i == parts.Length - 1, CancellationToken.None).WaitAsync(Eventually.DefaultTimeout);
        }
        var reply = await client.ReceiveAsync("reply");
        reply.GetProperty("id").GetString().ShouldBe("frag");
    }

    [Fact]
    public async Task DataIsRelayedExactlyAsSent()
    {
        await using var a = await _cluster.ConnectAsync("relay-a", "node-1");
        await using var b = await _cluster.ConnectAsync("relay-b", "node-1");
        const string data = """{"nested":[1,2.5e3,"ü ✓ \"quoted\"",null,true,{"deep":{}}]}""";
        await a.SendAsync($$"""{"type":"send","to":"user:relay-b","data":{{data}}}""");
        var text = await b.ReceiveTextAsync("message");
        text.ShouldNotBeNull().ShouldContain("\"data\":" + data);
        JsonDocument.Parse(text).RootElement.GetProperty("seq").GetInt64().ShouldBe(1);
    }
}
