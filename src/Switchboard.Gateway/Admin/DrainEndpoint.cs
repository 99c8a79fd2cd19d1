using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.Control;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Publish;

namespace Switchboard.Gateway.Admin;

/// <summary>
/// <c>POST /v1/admin/nodes/{id}/drain</c> (admin key in <c>X-Admin-Key</c>): relays a drain request to the node over
/// the backplane, so it works whichever gateway is asked. No body (or <c>{}</c>) drains the whole node;
/// <c>{"count":N}</c> moves N of its connections and leaves it ready; any other body is
/// 400 (see <see cref="DrainBody"/>). Answers 202 with the node's answer.
/// </summary>
internal sealed class DrainEndpoint(ApiKeyChecker adminKeys, IBackplane backplane, TimeSpan timeout, ILogger<DrainEndpoint> logger)
{
    private const int MaxBodyBytes = 1024;

    public async Task HandleAsync(HttpContext context)
    {
        if (!await adminKeys.AdmitsAsync(context).ConfigureAwait(false))
        {
            return;
        }
        var nodeId = context.Request.RouteValues["id"] as string ?? string.Empty;
        var body = await RequestBodies.ReadAsync(context.Request, MaxBodyBytes, context.RequestAborted).ConfigureAwait(false);
        if (body is not { } bytes)
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest,
                $"{DrainBody.Expected}; it is larger than {MaxBodyBytes} bytes").ConfigureAwait(false);
            return;
        }
        if (!DrainBody.TryRead(bytes.Span, out var request, out var problem))
        {
            await HttpAnswers.ErrorAsync(context, StatusCodes.Status400BadRequest, GatewayErrorCodes.BadRequest, problem).ConfigureAwait(false);
            return;
        }
        byte[] answer;
        try
        {
            answer = await backplane.RequestAsync(nodeId, NodeControlMessages.DrainKind, NodeControlMessages.Write(request), timeout, context.RequestAborted).ConfigureAwait(false);
        }
        catch (BackplaneRequestException e)
        {
            logger.DrainRelayFailed(nodeId, e.Failure.ToString());
            var (status, code) = e.Failure switch
            {
                BackplaneRequestFailure.NoSuchNode => (StatusCodes.Status404NotFound, GatewayErrorCodes.UnknownNode),
                BackplaneRequestFailure.Timeout => (StatusCodes.Status504GatewayTimeout, GatewayErrorCodes.NodeTimeout),
                _ => (StatusCodes.Status503ServiceUnavailable, GatewayErrorCodes.BackplaneUnavailable),
            };
            await HttpAnswers.ErrorAsync(context, status, code, e.Message).ConfigureAwait(false);
            return;
        }
        logger.DrainRelayed(nodeId, request.Count);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(answer, context.RequestAborted).ConfigureAwait(false);
    }
}
