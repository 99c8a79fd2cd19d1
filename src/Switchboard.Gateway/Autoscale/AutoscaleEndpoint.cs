using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Switchboard.Gateway.Admin;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Publish;

namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// <c>GET /v1/autoscale</c> (admin key in <c>X-Admin-Key</c>, as the admin API: it shows the farm's size and the
/// provisioner's activity): this gateway's view of the autoscaler.
/// </summary>
internal sealed class AutoscaleEndpoint(ApiKeyChecker adminKeys, Autoscaler autoscaler)
{
    public async Task HandleAsync(HttpContext context)
    {
        if (!await adminKeys.AdmitsAsync(context).ConfigureAwait(false))
        {
            return;
        }
        await HttpAnswers.JsonAsync(context, StatusCodes.Status200OK, autoscaler.View(), AutoscaleJsonContext.Default.AutoscaleView).ConfigureAwait(false);
    }
}

/// <summary>One scaling decision (or failure) of the autoscaler.</summary>
internal sealed record AutoscaleDecision(DateTimeOffset At, AutoscaleAction Action, int From, int To, string Reason, IReadOnlyList<string> Drained);

internal sealed record AutoscaleCooldowns(DateTimeOffset? LastScaledAt, DateTimeOffset? ScaleUpAllowedAt, DateTimeOffset? ScaleDownAllowedAt);

/// <summary>The answer of <c>GET /v1/autoscale</c>.</summary>
internal sealed record AutoscaleView(
    bool Enabled,
    bool Active,
    string Provisioner,
    int Nodes,
    int DrainingNodes,
    long Connections,
    double CapacityPerNode,
    int? Desired,
    double TargetUtilisation,
    int MinNodes,
    int MaxNodes,
    AutoscaleCooldowns Cooldown,
    AutoscaleDecision? LastRound,
    IReadOnlyList<AutoscaleDecision> Decisions);

/// <summary>Source-generated JSON for the autoscaler's HTTP bodies (camelCase fields, actions by name).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(AutoscaleView))]
[JsonSerializable(typeof(WebhookBody))]
internal sealed partial class AutoscaleJsonContext : JsonSerializerContext;
