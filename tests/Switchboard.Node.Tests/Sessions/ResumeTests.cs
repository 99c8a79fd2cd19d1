using System.Text.Json;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Sessions;

/// <summary>Session resume over real sockets: a dropped client comes back on any node and gets what it missed, once, in order.</summary>
public sealed class ResumeTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(nodes: 3, o => o.ConfigureNode = n =>
    {
        n.ReplayBufferMessages = 5;
        n.ResumeForwardTime = TimeSpan.FromMilliseconds(500);
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static async Task SendAsync(RawClient from, string to, int n)
    {
        var reply = await from.CommandAsync($$"""{"type":"send","to":"{{to}}","data":{{n}},"id":"s{{n}}"}""", $"s{n}");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    private static async Task<(int Data, long Seq)> NextMessageAsync(RawClient client, string what)
    {
        var frame = await client.ReceiveAsync(what);
        frame.GetProperty("type").GetString().ShouldBe("message", frame.GetRawText());
        return (frame.GetProperty("data").GetInt32(), frame.GetProperty("seq").GetInt64());
    }

    /// <summary>A resume-only ticket, as the gateway issues to a failover proxy that holds a proxy key.</summary>
    private Task<RawClient> OpenResumeOnlyAsync(string userId, string nodeId, string session)
    {
        var (token, _) = new Security.Tickets.TicketIssuer(TestCluster.Secret).Issue(userId, nodeId, session, TimeSpan.FromMinutes(1), resumeOnly: true);
        return RawClient.OpenAsync(new Uri($"{_cluster.Cluster.Node(nodeId).WebSocketUrl}?token={Uri.EscapeDataString(token)}"));
    }

    [Fact]
    public async Task ResumeOnlyTicket_ContinuesItsSession_ButNeverStartsANewOne()
    {
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();

        // No session of that id anywhere, a first frame that is not resume, another user's session: each is closed
        // with 1008 before any welcome, where an ordinary resume ticket would welcome a new session.
        await using (var unknown = await OpenResumeOnlyAsync("bob", "node-2", "NoSuchSession0123456789"))
        {
            await unknown.SendAsync("""{"type":"resume","session":"NoSuchSession0123456789","lastSeq":0}""");
            (await unknown.ReceiveTextAsync("the close for an unknown session")).ShouldBeNull("no frame, not even a welcome, before the close");
            ((int?)unknown.Socket.CloseStatus).ShouldBe(1008);
        }
        await using (var notResume = await OpenResumeOnlyAsync("bob", "node-2", session))
        {
            await notResume.SendAsync("""{"type":"ping","id":"p1"}""");
            (await notResume.ReceiveTextAsync("the close for a first frame that is not resume")).ShouldBeNull("no frame, not even a welcome, before the close");
            ((int?)notResume.Socket.CloseStatus).ShouldBe(1008);
        }
        await using (var mallory = await OpenResumeOnlyAsync("mallory", "node-3", session))
        {
            await mallory.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0}""");
            (await mallory.ReceiveTextAsync("the close for another user's session")).ShouldBeNull("no frame, not even a welcome, before the close");
            ((int?)mallory.Socket.CloseStatus).ShouldBe(1008);
        }

        await using var resumed = await OpenResumeOnlyAsync("bob", "node-2", session);
        await resumed.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0}""");
        var welcome = await resumed.ReceiveAsync("the welcome answering resume");
        welcome.GetProperty("session").GetString().ShouldBe(session);
        welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task DroppedClient_ResumesOnAnotherNode_GetsWhatItMissedInOrder_ThenLiveTraffic()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        await SendAsync(alice, "user:bob", 1);
        await SendAsync(alice, "user:bob", 2);
        (await NextMessageAsync(bob, "1")).ShouldBe((1, 1L));
        (await NextMessageAsync(bob, "2")).ShouldBe((2, 2L));
        var session = bob.Session;

        // The TCP connection drops (no closing handshake); alice keeps talking meanwhile.
        bob.Socket.Abort();
        bob.Socket.Dispose();
        for (var n = 3; n <= 5; n++)
        {
            await SendAsync(alice, "user:bob", n);
        }
        await using var resumed = await _cluster.ResumeAsync("bob", "node-2", session, lastSeq: 2);

        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("node").GetString().ShouldBe("node-2");
        resumed.Welcome.GetProperty("replayed").GetInt32().ShouldBe(3);
        resumed.Welcome.TryGetProperty("missedFrom", out _).ShouldBeFalse();
        (await NextMessageAsync(resumed, "3")).ShouldBe((3, 3L));
        (await NextMessageAsync(resumed, "4")).ShouldBe((4, 4L));
        (await NextMessageAsync(resumed, "5")).ShouldBe((5, 5L));
        await SendAsync(alice, "user:bob", 6);
        (await NextMessageAsync(resumed, "6 (live, seq continues)")).ShouldBe((6, 6L));

        // After the hand-over window the old node lets bob go, and the directory routes bob to node-2 alone.
        var directory = _cluster.Cluster.Node("node-3").Node.Cluster.Directory;
        await Eventually.TrueAsync(() => directory.GetNodes("bob").SequenceEqual(["node-2"]), "bob routed to node-2 only");
        await SendAsync(alice, "user:bob", 7);
        (await NextMessageAsync(resumed, "7 (no duplicate in between)")).ShouldBe((7, 7L));
    }

    [Fact]
    public async Task ResumeOnTheSameNode_Works()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        await SendAsync(alice, "user:bob", 1);
        (await NextMessageAsync(bob, "1")).Seq.ShouldBe(1);
        bob.Socket.Abort();
        bob.Socket.Dispose();
        await SendAsync(alice, "user:bob", 2);

        await using var resumed = await _cluster.ResumeAsync("bob", "node-1", bob.Session, lastSeq: 1);

        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
        (await NextMessageAsync(resumed, "2")).ShouldBe((2, 2L));
        await SendAsync(alice, "user:bob", 3);
        (await NextMessageAsync(resumed, "3")).ShouldBe((3, 3L));
    }

    [Fact]
    public async Task GapTheBufferNoLongerCovers_IsReportedInTheWelcome_AndTheRestIsReplayed()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        // The buffer holds 5 messages: 1..3 fall out.
        for (var n = 1; n <= 8; n++)
        {
            await SendAsync(alice, "user:bob", n);
        }

        await using var resumed = await _cluster.ResumeAsync("bob", "node-2", session, lastSeq: 0);

        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse();
        resumed.Welcome.GetProperty("session").GetString().ShouldBe(session);
        resumed.Welcome.GetProperty("missedFrom").GetInt64().ShouldBe(1);
        resumed.Welcome.GetProperty("missedTo").GetInt64().ShouldBe(3);
        for (var n = 4; n <= 8; n++)
        {
            (await NextMessageAsync(resumed, $"{n}")).ShouldBe((n, (long)n));
        }
    }

    [Fact]
    public async Task UnknownSession_IsRefusedClearly_AndTheConnectionContinuesAsANewSession()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-1");
        var client = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", "no-such-session"));
        await using var _ = client;
        await client.SendAsync("""{"type":"resume","session":"no-such-session","lastSeq":4,"id":"r1"}""");

        var welcome = await client.ReceiveAsync("welcome");
        var reply = await client.ReceiveAsync("reply to resume");

        welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse();
        welcome.GetProperty("session").GetString().ShouldNotBe("no-such-session");
        reply.GetProperty("ok").GetBoolean().ShouldBeFalse();
        reply.GetProperty("error").GetProperty("code").GetString().ShouldBe("unknown_session");
        await SendAsync(alice, "user:bob", 1);
        (await NextMessageAsync(client, "live message on the new session")).ShouldBe((1, 1L));
    }

    [Fact]
    public async Task AnotherUsersSession_IsRefused_AndLeftIntact()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        await SendAsync(alice, "user:bob", 1);
        // Mallory has a valid resume ticket with bob's session id, but for her own user: refused, on the node holding
        // the session and on any other (which finds the session by asking around).
        foreach (var (node, code) in new[] { ("node-1", "session_forbidden"), ("node-2", "session_forbidden") })
        {
            var mallory = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("mallory", node, session));
            await using var __ = mallory;
            await mallory.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r1"}""");
            var welcome = await mallory.ReceiveAsync("welcome");
            var reply = await mallory.ReceiveAsync("reply");

            welcome.GetProperty("session").GetString().ShouldNotBe(session);
            reply.GetProperty("error").GetProperty("code").GetString().ShouldBe(code);
        }
        await using var resumed = await _cluster.ResumeAsync("bob", "node-1", session, lastSeq: 0);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
        (await NextMessageAsync(resumed, "bob still gets his message")).ShouldBe((1, 1L));
    }

    [Fact]
    public async Task ResumeFrameForAnotherSessionThanTheTicket_IsRefused()
    {
        var client = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", "ticket-session"));
        await using var _ = client;
        await client.SendAsync("""{"type":"resume","session":"other-session","lastSeq":0,"id":"r1"}""");

        (await client.ReceiveAsync("welcome")).GetProperty("resumed").GetBoolean().ShouldBeFalse();
        (await client.ReceiveAsync("reply")).GetProperty("error").GetProperty("code").GetString().ShouldBe("session_forbidden");
    }

    [Fact]
    public async Task ResumeNotFirst_IsRefusedWithResumeNotFirst()
    {
        await using var bob = await _cluster.ConnectAsync("bob", "node-1");

        var reply = await bob.CommandAsync("""{"type":"resume","session":"x","lastSeq":0,"id":"r1"}""", "r1");

        reply.GetProperty("ok").GetBoolean().ShouldBeFalse();
        reply.GetProperty("error").GetProperty("code").GetString().ShouldBe("resume_not_first");
        (await bob.CommandAsync("""{"type":"ping","id":"p"}""", "p")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task ResumeTicketWhoseFirstFrameIsNotResume_StartsANewSession_AndCarriesOutTheFrame()
    {
        var client = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", "some-session"));
        await using var _ = client;
        await client.SendAsync("""{"type":"ping","id":"p1"}""");

        var welcome = await client.ReceiveAsync("welcome");
        var reply = await client.ReceiveAsync("reply");

        welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse();
        reply.GetProperty("id").GetString().ShouldBe("p1");
        reply.GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [InlineData("not json", "bad_json")]
    [InlineData("""{"type":"resume","session":"some-session","id":"r1"}""", "missing_field")]
    public async Task ResumeTicketWhoseFirstFrameIsInvalid_IsWelcomedAsANewSession_BeforeTheError(string first, string code)
    {
        var client = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", "some-session"));
        await using var _ = client;
        await client.SendAsync(first);

        var welcome = await client.ReceiveAsync("the welcome, first");
        welcome.GetProperty("type").GetString().ShouldBe("welcome", welcome.GetRawText());
        var rejection = await client.ReceiveAsync("the rejection of the first frame");

        welcome.GetProperty("resumed").GetBoolean().ShouldBeFalse();
        welcome.GetProperty("session").GetString().ShouldNotBe("some-session");
        var error = rejection.GetProperty("type").GetString() == "reply" ? rejection.GetProperty("error") : rejection;
        error.GetProperty("code").GetString().ShouldBe(code, rejection.GetRawText());
        // A resume now is not the first frame any more; the connection goes on as its own session.
        var late = await client.CommandAsync("""{"type":"resume","session":"some-session","lastSeq":0,"id":"r2"}""", "r2");
        late.GetProperty("error").GetProperty("code").GetString().ShouldBe("resume_not_first");
        (await client.CommandAsync("""{"type":"ping","id":"p"}""", "p")).GetProperty("ok").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"type":"resume","session":"some-session"}""")]
    [InlineData(null)]
    public async Task ResumeOnlyTicketWhoseFirstFrameIsInvalid_IsClosed1008_WithoutAnyFrame(string? first)
    {
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        bob.Socket.Abort();
        bob.Socket.Dispose();
        await using var client = await OpenResumeOnlyAsync("bob", "node-2", session);

        if (first is null)
        {
            using var timeout = new CancellationTokenSource(Eventually.DefaultTimeout);
            await client.Socket.SendAsync(new byte[] { 1, 2, 3 }, System.Net.WebSockets.WebSocketMessageType.Binary, true, timeout.Token);
        }
        else
        {
            await client.SendAsync(first);
        }

        (await client.ReceiveTextAsync("the close")).ShouldBeNull("no frame, neither a welcome nor an error, before the close");
        ((int?)client.Socket.CloseStatus).ShouldBe(1008);
        client.Socket.CloseStatusDescription.ShouldBe("this ticket only resumes a session: send resume as the first frame");
        // The session it did not resume is still there for a proper resume.
        await using var resumed = await _cluster.ResumeAsync("bob", "node-2", session, lastSeq: 0);
        resumed.Welcome.GetProperty("resumed").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task ClientThatClosesNormally_LeavesNoSessionBehind()
    {
        await using var alice = await _cluster.ConnectAsync("alice", "node-3");
        var bob = await _cluster.ConnectAsync("bob", "node-1");
        var session = bob.Session;
        await bob.DisposeAsync();
        var directory = _cluster.Cluster.Node("node-3").Node.Cluster.Directory;
        await Eventually.TrueAsync(() => directory.GetNodes("bob").Count == 0, "bob gone from the directory");

        var client = await RawClient.OpenAsync(_cluster.ResumeTicketUrl("bob", "node-2", session));
        await using var _ = client;
        await client.SendAsync($$"""{"type":"resume","session":"{{session}}","lastSeq":0,"id":"r"}""");
        await client.ReceiveAsync("welcome");
        (await client.ReceiveAsync("reply")).GetProperty("error").GetProperty("code").GetString().ShouldBe("unknown_session");
    }
}
