using System.Net;
using Switchboard.Proxy.Tunnel;

namespace Switchboard.Proxy.Policies;

/// <summary>What a policy may look at: the client's address and, in <c>tunnel</c> mode, its upgrade request.</summary>
/// <param name="Client">The client's address and port.</param>
/// <param name="Request">The upgrade request; null in <c>tcp</c> mode.</param>
internal sealed record BalancingContext(IPEndPoint Client, UpgradeRequest? Request);
