using System.Text;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Tests.Tunnel;

public sealed class ResponseBodyTests
{
    private const string Next = "HTTP/1.1 200 OK\r\n"; // bytes past the body, which it must not take

    [Theory]
    [InlineData("HTTP/1.1 401 Unauthorized\r\nContent-Length: 10\r\n\r\n", "no ticket\n")]
    [InlineData("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", "")]
    [InlineData("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", "")]
    [InlineData("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "3\r\nno \r\n7;ext=1\r\nticket\n\r\n0\r\n\r\n")]
    [InlineData("HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: gzip, chunked\r\n\r\n", "A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n")]
    public void BodyEndsWhereItsFramingSays_FedAllAtOnceOrByteByByte(string head, string body)
    {
        var bytes = Encoding.ASCII.GetBytes(body + Next);

        var whole = ResponseBody.Of(Encoding.ASCII.GetBytes(head), int.Parse(head[9..12]));
        whole.Consume(bytes).ShouldBe(body.Length);
        whole.IsComplete.ShouldBeTrue();

        var piecemeal = ResponseBody.Of(Encoding.ASCII.GetBytes(head), int.Parse(head[9..12]));
        var taken = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            piecemeal.IsComplete.ShouldBe(i >= body.Length && taken == body.Length);
            taken += piecemeal.Consume(bytes.AsSpan(i, 1));
        }
        taken.ShouldBe(body.Length);
        piecemeal.IsComplete.ShouldBeTrue();
    }

    [Theory]
    [InlineData("HTTP/1.1 401 Unauthorized\r\n\r\n")]
    [InlineData("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n")]
    [InlineData("HTTP/1.1 401 Unauthorized\r\nContent-Length: nope\r\n\r\n")]
    public void BodyWithoutALength_RunsUntilTheBackendCloses(string head)
    {
        var body = ResponseBody.Of(Encoding.ASCII.GetBytes(head), 401);

        body.Consume(Encoding.ASCII.GetBytes(Next + Next)).ShouldBe(2 * Next.Length);
        body.IsComplete.ShouldBeFalse();
    }
}
