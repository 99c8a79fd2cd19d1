using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Switchboard.Gateway.Admin;
using Switchboard.Gateway.Http;
using Switchboard.Gateway.Publish;

namespace Switchboard.Gateway.Rebalance;

/// <summary>
/// <c>GET /v1/rebalance</c> (admin key in <c>X-Admin-Key</c>, as <c>GET /v1/autoscale</c>: it shows the nodes' load
/// and the moves asked of them): this gateway's view of the rebalancer.
/// </summary>
internal sealed class RebalanceEndpoint(ApiKeyChecker adminKeys, Rebalancer rebalancer)
{
    public async Task HandleAsync(HttpContext context)
    {
        if (!await adminKeys.AdmitsAsync(context).ConfigureAwait(false))
        {
            return;
        }
        await HttpAnswers.JsonAsync(context, StatusCodes.Status200OK, rebalancer.View(), RebalanceJsonContext.Default.RebalanceView).ConfigureAwait(false);
    }
}

/// <summary>What a round of the rebalancer came to.</summary>
internal enum RebalanceAction
{
    /// <summary>No node to ask (none over the threshold, too few connections to move), or the round failed.</summary>
    None,

    /// <summary>A node is over the threshold but is left alone for now: its cooldown, or its next heartbeat to confirm.</summary>
    Wait,

    /// <summary>A node was asked to move some of its connections.</summary>
    Move,
}

/// <summary>
/// One round of the rebalancer: the node it concerned (the one asked, waited on, or the most loaded), that node's
/// figures and the cluster's mean load at the round, how many connections it was asked to move and how many it said it
/// is moving (null unless it answered), and why.
/// </summary>
internal sealed record RebalanceDecision(
    DateTimeOffset At,
    RebalanceAction Action,
    string? NodeId,
    int Connections,
    double Load,
    double MeanLoad,
    int Asked,
    int? Moving,
    string Reason);

/// <summary>A node the rebalancer asked and leaves alone until <see cref="Until"/>.</summary>
internal sealed record RebalanceCooldown(string NodeId, DateTimeOffset Until);

/// <summary>The answer of <c>GET /v1/rebalance</c>.</summary>
internal sealed record RebalanceView(
    bool Enabled,
    bool Active,
    TimeSpan Interval,
    double Threshold,
    double Hysteresis,
    TimeSpan Cooldown,
    int MaxMovesPerRequest,
    int MinConnections,
    long Rounds,
    long Requests,
    IReadOnlyList<RebalanceCooldown> Cooldowns,
    RebalanceDecision? LastRound,
    IReadOnlyList<RebalanceDecision> Decisions);

/// <summary>Source-generated JSON for the rebalancer's HTTP body (camelCase fields, actions by name).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RebalanceView))]
internal sealed partial class RebalanceJsonContext : JsonSerializerContext;
