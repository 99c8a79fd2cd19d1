using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Switchboard.Client.Tests.Gateway;

/// <summary>An in-memory gateway: answers each request with the next scripted response (the last one repeats) and records what it got.</summary>
internal sealed class FakeGatewayHandler : HttpMessageHandler
{
    private readonly Func<int, Task<HttpResponseMessage>> _answer;

    public FakeGatewayHandler(Func<int, HttpResponseMessage> answer) => _answer = i => Task.FromResult(answer(i));

    private FakeGatewayHandler(Func<int, Task<HttpResponseMessage>> answer) => _answer = answer;

    /// <summary>A gateway whose answers may wait (for a test to open a gate).</summary>
    public static FakeGatewayHandler Async(Func<int, Task<HttpResponseMessage>> answer) => new(answer);

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public int Count => Requests.Count;

    public static HttpResponseMessage Json(HttpStatusCode status, string json, TimeSpan? retryAfter = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (retryAfter is { } delay)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(delay);
        }
        return response;
    }

    public static HttpResponseMessage Error(HttpStatusCode status, string code, string message, TimeSpan? retryAfter = null) =>
        Json(status, $$$"""{"error":{"code":"{{{code}}}","message":"{{{message}}}"}}""", retryAfter);

    public static HttpResponseMessage Ticket(string url, string token = "ticket-1", string node = "node-1") =>
        Json(HttpStatusCode.OK, $$"""{"url":"{{url}}","token":"{{token}}","node":"{{node}}","expiresAt":"2026-11-21T12:00:00+00:00"}""");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        var index = Requests.Count;
        Requests.Enqueue(new RecordedRequest(request.Method, request.RequestUri!, request.Headers.Authorization?.ToString(), request.Content?.Headers.ContentType?.MediaType, body));
        return await _answer(index);
    }
}

internal sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Authorization, string? ContentType, string? Body);
