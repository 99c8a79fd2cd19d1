using Switchboard.Bench.Targets;

namespace Switchboard.Bench.Proxying;

/// <summary>One proxy process in front of the nodes (ours or HAProxy): where clients dial it, and what it counts.</summary>
internal interface IEntryPoint : IAsyncDisposable
{
    /// <summary>The address clients dial instead of their node's (<c>ws://127.0.0.1:port</c>); path and query are the node URL's.</summary>
    Uri Address { get; }

    /// <summary>The process, for /proc sampling.</summary>
    ClusterProcess Process { get; }

    /// <summary>Warnings and errors the proxy has logged so far (of its kept output), for the report's notes.</summary>
    IReadOnlyList<string> Warnings();

    /// <summary>The proxy's own counts (its metrics or statistics page), or null when it cannot be read.</summary>
    Task<EntryCounts?> CountsAsync(CancellationToken cancellationToken);
}

/// <summary>
/// What a proxy process counted: client connections open now and accepted since it started, and (failover mode) sessions
/// it carried onto another node without the client seeing it.
/// </summary>
internal sealed record EntryCounts(long Open, long Total, long CarriedOn = 0);
