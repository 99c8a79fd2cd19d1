using System.Text;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Tests.Tunnel;

public sealed class UpgradeRequestTests
{
    [Fact]
    public void Parse_KeepsHeadersInOrder_AndReadsQueryCookiesAndTokens()
    {
        var head = "GET /chat?room=a%20b&x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
            + "Sec-WebSocket-Key: k==\r\nCookie: a=1; sid=\"s-42\"\r\nCookie: later=2\r\n\r\n";

        var request = HttpHead.ParseRequest(Encoding.Latin1.GetBytes(head), out var refusal)!;

        refusal.ShouldBeNull();
        HttpHead.CheckUpgrade(request).ShouldBeNull();
        request.Path.ShouldBe("/chat");
        request.QueryParameter("room").ShouldBe("a b");
        request.QueryParameter("x").ShouldBe("");
        request.QueryParameter("missing").ShouldBeNull();
        request.Cookie("sid").ShouldBe("s-42");
        request.Cookie("later").ShouldBe("2");
        request.Headers.Select(h => h.Key).ShouldBe(["Host", "Connection", "Upgrade", "Sec-WebSocket-Key", "Cookie", "Cookie"]);
    }

    [Fact]
    public void UpstreamHead_RewritesTheTarget_AndReplacesOnlyTheForwardedHeaders()
    {
        var request = HttpHead.ParseRequest(Encoding.Latin1.GetBytes("GET /a?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nOrigin: o\r\n\r\n"), out _)!;

        var upstream = Encoding.Latin1.GetString(request.ToUpstreamHead("/v1/ws?q=1", "127.0.0.9", "http"));

        upstream.ShouldBe("GET /v1/ws?q=1 HTTP/1.1\r\nHost: h\r\nOrigin: o\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.9\r\nX-Forwarded-Proto: http\r\n\r\n");
        Encoding.Latin1.GetString(request.ToUpstreamHead("/a?q=1", null, "http")).ShouldContain("X-Forwarded-Proto: https");
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost : h\r\n\r\n", "malformed")]
    [InlineData("GET / HTTP/1.1\r\n folded\r\n\r\n", "malformed")]
    [InlineData("GET /\r\n\r\n", "malformed")]
    public void MalformedHeads_AreRefusedWith400(string head, string why)
    {
        HttpHead.ParseRequest(Encoding.Latin1.GetBytes(head), out var refusal).ShouldBeNull();
        refusal!.Status.ShouldBe(400);
        refusal.Message.ShouldContain(why);
    }

    [Theory]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\n\r\n", 101)]
    [InlineData("HTTP/1.0 403 Forbidden\r\n\r\n", 403)]
    [InlineData("SSH-2.0-OpenSSH\r\n\r\n", -1)]
    public void ParseStatus_ReadsTheStatusCode(string head, int status) =>
        HttpHead.ParseStatus(Encoding.Latin1.GetBytes(head)).ShouldBe(status);
}
