namespace Switchboard.Gateway.Placement;

/// <summary>The load score documented on <see cref="GatewayOptions"/>: <c>ConnectionWeight × connections / capacity + CpuWeight × cpu</c>.</summary>
internal sealed class LoadScorer(double connectionWeight, double cpuWeight)
{
    public double Score(int estimatedConnections, int capacity, double cpu)
    {
        // A node that reports no capacity counts as full rather than dividing by zero.
        var fill = capacity > 0 ? (double)estimatedConnections / capacity : 1.0;
        return connectionWeight * fill + cpuWeight * cpu;
    }
}
