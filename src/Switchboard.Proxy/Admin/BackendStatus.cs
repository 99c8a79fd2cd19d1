using System.Text.Json;
using System.Text.Json.Serialization;
using Switchboard.Proxy.Backends;

namespace Switchboard.Proxy.Admin;

/// <summary>One backend as <c>GET /admin/backends</c> shows it.</summary>
/// <param name="Backend">The backend's id: <c>host:port[/path]</c>, or the node id for cluster nodes.</param>
/// <param name="Url">Where the proxy dials it.</param>
/// <param name="State"><c>up</c>, <c>ejected</c> or <c>draining</c>.</param>
/// <param name="Connections">Tunnels open to it now.</param>
/// <param name="Weight">Its weight.</param>
/// <param name="Load">Its load score from heartbeats plus recent placements, for cluster nodes.</param>
/// <param name="DialFailures">Failed dials since start.</param>
/// <param name="Origin"><see cref="StaticOrigin"/> (the configured list) or <see cref="ClusterOrigin"/> (heartbeats): a static backend and a cluster node may share an id.</param>
public sealed record BackendStatus(string Backend, string Url, string State, int Connections, int Weight, double? Load, long DialFailures, string Origin)
{
    /// <summary>The origin of a backend from the configured list (<c>--backend</c>, <c>Proxy:Backends</c>).</summary>
    public const string StaticOrigin = "static";

    /// <summary>The origin of a cluster node, learnt from its heartbeats.</summary>
    public const string ClusterOrigin = "cluster";

    internal static BackendStatus Of(Backend backend) => new(
        backend.Id, backend.Url.ToString(), backend.State.ToString().ToLowerInvariant(), backend.Connections, backend.Weight,
        backend.EstimatedLoad is { } load ? Math.Round(load, 4) : null, backend.DialFailures, OriginOf(backend));

    internal static string OriginOf(Backend backend) => backend.FromCluster ? ClusterOrigin : StaticOrigin;
}

/// <summary>The body of <c>GET /admin/backends</c>.</summary>
/// <param name="Mode">The proxy's mode.</param>
/// <param name="Policy">The balancing policy in force.</param>
/// <param name="Connections">Open client connections.</param>
/// <param name="Backends">Every backend.</param>
public sealed record BackendsResponse(string Mode, string Policy, int Connections, IReadOnlyList<BackendStatus> Backends);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(BackendsResponse))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
