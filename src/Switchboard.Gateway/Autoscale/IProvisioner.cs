namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// What the autoscaler asks of a provisioner: make the farm <see cref="Desired"/> nodes.
/// </summary>
/// <param name="Desired">The node count wanted.</param>
/// <param name="Current">The ready nodes now (draining ones not counted).</param>
/// <param name="Nodes">The ids of the ready nodes now.</param>
/// <param name="Drained">On a scale-down, the nodes the autoscaler has already asked to drain (they exit when empty).</param>
/// <param name="Reason">Why, in words, for logs and hooks.</param>
public sealed record ScaleRequest(int Desired, int Current, IReadOnlyList<string> Nodes, IReadOnlyList<string> Drained, string Reason);

/// <summary>
/// Adds or removes nodes. Scale-down is always a drain: before a provisioner hears of a smaller count the autoscaler
/// has already drained the surplus nodes over the backplane, so a provisioner never has to stop a node holding clients.
/// Calls come one at a time, from the active autoscaler only.
/// </summary>
public interface IProvisioner
{
    /// <summary>The provisioner's name: one of <see cref="Provisioners"/> for the built-in ones.</summary>
    string Name { get; }

    /// <summary>Makes the farm <see cref="ScaleRequest.Desired"/> nodes; throws <see cref="ProvisionerException"/> when it cannot.</summary>
    Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A provisioner could not carry out a scaling; the message says why.</summary>
public sealed class ProvisionerException(string message, Exception? inner = null) : Exception(message, inner);
