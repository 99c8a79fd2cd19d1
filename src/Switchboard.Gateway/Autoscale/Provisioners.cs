namespace Switchboard.Gateway.Autoscale;

/// <summary>The names of the built-in provisioners, as <c>Gateway:Autoscale:Provisioner</c> refers to them.</summary>
public static class Provisioners
{
    /// <summary>Starts <c>switchboard node</c> processes on this machine (and lets drained ones exit).</summary>
    public const string Process = "process";

    /// <summary>Runs a configured command with the desired count (e.g. <c>kubectl scale --replicas={count}</c>).</summary>
    public const string Command = "command";

    /// <summary>POSTs <c>{desired, current, nodes, reason}</c> to a URL.</summary>
    public const string Webhook = "webhook";

    /// <summary>Every built-in name.</summary>
    public static IReadOnlyList<string> All { get; } = [Process, Command, Webhook];
}
