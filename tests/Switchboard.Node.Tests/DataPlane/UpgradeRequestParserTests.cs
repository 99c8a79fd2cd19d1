using System.Buffers;
using System.Text;
using Switchboard.Node.DataPlane;

namespace Switchboard.Node.Tests.DataPlane;

/// <summary>
/// What the data-plane listener takes from an upgrade request's head, read from its bytes. The refusals' answers over a
/// real socket are in <see cref="DataPlaneListenerTests"/>; these are the details of a head that is read.
/// </summary>
public sealed class UpgradeRequestParserTests
{
    private const string Key = "dGhlIHNhbXBsZSBub25jZQ==";

    private static string Head(string requestLine, params string[] fields) =>
        $"{requestLine}\r\n{string.Concat(fields.Select(f => f + "\r\n"))}\r\n";

    private static string Upgrade(string target = "/v1/ws", params string[] more) =>
        Head($"GET {target} HTTP/1.1", ["Host: 127.0.0.1:7001", "Upgrade: websocket", "Connection: Upgrade", $"Sec-WebSocket-Key: {Key}", "Sec-WebSocket-Version: 13", .. more]);

    private static (bool Complete, long Consumed, UpgradeRequest? Request, UpgradeRefusal? Refusal) Parse(string text, int? splitAt = null)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        var buffer = splitAt is { } at ? Segments.Of(bytes, at) : new ReadOnlySequence<byte>(bytes);
        var complete = UpgradeRequestParser.TryParse(buffer, out var consumed, out var request, out var refusal);
        return (complete, buffer.Slice(0, consumed).Length, request, refusal);
    }

    [Fact]
    public void ATicketInTheQuery_IsPercentDecoded_WithPlusAsASpace_AndTheFlagsAreRead()
    {
        var (complete, _, request, refusal) = Parse(Upgrade("/v1/ws?token=a.b%2Bc+d&ids=%31&confirm=1"));

        complete.ShouldBeTrue();
        refusal.ShouldBeNull();
        request.ShouldBe(new UpgradeRequest("a.b+c d", Key, OffersSubprotocol: false, MessageIds: true, ConfirmSends: true));
    }

    [Fact]
    public void TheFirstTokenCounts_AndOnlyANameThatMatchesWhole()
    {
        Parse(Upgrade("/v1/ws?tokens=x&token=first&token=second&ids=0")).Request
            .ShouldBe(new UpgradeRequest("first", Key, false, MessageIds: false, ConfirmSends: false));
        Parse(Upgrade("/v1/ws?token")).Request!.Token.ShouldBe(string.Empty);
        Parse(Upgrade("/v1/ws")).Request!.Token.ShouldBeNull();
    }

    [Fact]
    public void AHeadSplitAcrossSegments_ReadsAsOne_AndWhatFollowsItIsLeft()
    {
        var text = Upgrade("/v1/ws?token=t", "Sec-WebSocket-Protocol: chat, switchboard.v1");
        var whole = Parse(text + "\x81\x00");

        for (var at = 1; at < text.Length; at += 7)
        {
            var split = Parse(text + "\x81\x00", at);
            split.Request.ShouldBe(whole.Request, $"split at {at}");
            split.Consumed.ShouldBe(Encoding.Latin1.GetByteCount(text));
        }
        whole.Request!.OffersSubprotocol.ShouldBeTrue();
    }

    [Fact]
    public void AnUnfinishedHead_AsksForMore_UntilItIsTooLarge()
    {
        var partial = Upgrade()[..^2];
        Parse(partial).Complete.ShouldBeFalse();

        var (complete, _, request, refusal) = Parse("GET /v1/ws HTTP/1.1\r\nX: " + new string('a', UpgradeRequestParser.MaxHeadBytes));
        complete.ShouldBeTrue();
        request.ShouldBeNull();
        refusal!.Status.ShouldBe(431);
    }

    [Fact]
    public void HeaderNamesAndTheUpgradeToken_AreCaseInsensitive_AndConnectionTokensMayBeSpreadOverFields()
    {
        var text = Head("GET /v1/ws HTTP/1.1", "UPGRADE: WebSocket", "connection: keep-alive", "Connection:  , upgrade ", $"sec-websocket-key: {Key}",
            "SEC-WEBSOCKET-VERSION: 13");

        Parse(text).Request.ShouldNotBeNull();
    }

    [Theory]
    [InlineData("Sec-WebSocket-Protocol: chat", 400, "unsupported_subprotocol")]
    [InlineData("Sec-WebSocket-Protocol: Switchboard.V1", 400, "unsupported_subprotocol")]
    [InlineData("X:\tvalue", 400, "bad_request")]
    [InlineData("X: \u0085", 400, "bad_request")]
    [InlineData("X: \u007f", 400, "bad_request")]
    [InlineData("Upgrade: websocket\u00a0", 400, "websocket_required")]
    [InlineData("Bad Name: x", 400, "bad_request")]
    [InlineData(": no name", 400, "bad_request")]
    [InlineData("Sec-WebSocket-Version: 8", 426, "unsupported_websocket_version")]
    [InlineData("Sec-WebSocket-Key: c2hvcnQ=", 400, "bad_request")]
    public void AFieldThatIsWrong_IsRefusedPrecisely(string field, int status, string code)
    {
        var refusal = Parse(Upgrade("/v1/ws", field)).Refusal.ShouldNotBeNull();

        (refusal.Status, refusal.Code).ShouldBe((status, code));
    }

    [Fact]
    public void OfRepeatedFields_TheLastUpgradeKeyAndVersionCount()
    {
        Parse(Upgrade("/v1/ws", "Upgrade: h2c")).Refusal.ShouldNotBeNull().Code.ShouldBe("websocket_required");
        Parse(Upgrade("/v1/ws", "Sec-WebSocket-Key: c2hvcnRlcg==", $"Sec-WebSocket-Key: {Key}")).Request.ShouldNotBeNull();
    }

    [Theory]
    [InlineData("/v1/ws?ids=+1&confirm=1+", false, false)]
    [InlineData("/v1/ws?ids=%31&confirm=%2531", true, false)]
    [InlineData("/v1/ws?ids=&confirm", false, false)]
    public void TheFlags_AreExactlyOneOnceDecoded(string target, bool messageIds, bool confirmSends)
    {
        var request = Parse(Upgrade(target)).Request.ShouldNotBeNull();

        (request.MessageIds, request.ConfirmSends).ShouldBe((messageIds, confirmSends));
    }

    [Fact]
    public void AnEmptyProtocolList_OffersNone_AndLatin1TextOrANoBreakSpaceIsNotAControlCharacter()
    {
        var request = Parse(Upgrade("/v1/ws", "Sec-WebSocket-Protocol:  , ", "X-Name: Zo\u00e9", "Sec-WebSocket-Protocol: \u00a0switchboard.v1\u00a0")).Request;

        request.ShouldNotBeNull().OffersSubprotocol.ShouldBeTrue();
        Parse(Upgrade("/v1/ws", "Sec-WebSocket-Protocol:  , ")).Request!.OffersSubprotocol.ShouldBeFalse();
    }

    [Theory]
    [InlineData("GET  /v1/ws HTTP/1.1", 400, "bad_request")]
    [InlineData("GET /v1/ws", 400, "bad_request")]
    [InlineData("GET /v1/ws HTTP/2", 400, "bad_request")]
    [InlineData("GET /v1/ws HTTP/1.0", 505, "http_version_not_supported")]
    [InlineData("GET /v1/wss?token=x HTTP/1.1", 404, "not_found")]
    [InlineData("get /v1/ws HTTP/1.1", 405, "method_not_allowed")]
    [InlineData("GET\t/v1/ws HTTP/1.1", 400, "bad_request")]
    [InlineData("GET /v1/ws\t HTTP/1.1", 404, "not_found")]
    public void ARequestLineThatIsWrong_IsRefusedPrecisely(string requestLine, int status, string code)
    {
        var refusal = Parse(Head(requestLine, "Upgrade: websocket")).Refusal.ShouldNotBeNull();

        (refusal.Status, refusal.Code).ShouldBe((status, code));
    }

    private sealed class Segments : ReadOnlySequenceSegment<byte>
    {
        public static ReadOnlySequence<byte> Of(byte[] bytes, int at)
        {
            var first = new Segments { Memory = bytes.AsMemory(0, at) };
            var second = new Segments { Memory = bytes.AsMemory(at), RunningIndex = at };
            first.Next = second;
            return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
        }
    }
}
