namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// Settings of the autoscaler (configuration section <c>Gateway:Autoscale</c>). The desired node count is
/// <c>ceil(total connections / (capacity per node × TargetUtilisation))</c>, clamped to
/// [<see cref="MinNodes"/>, <see cref="MaxNodes"/>]; the <see cref="Provisioner"/> makes it so.
/// </summary>
public sealed class AutoscaleOptions
{
    /// <summary>Whether this gateway takes part in autoscaling (one gateway acts at a time across the cluster).</summary>
    public bool Enabled { get; set; }

    /// <summary>The fraction of each node's capacity the autoscaler aims to fill (0.6: nodes run at 60 % of their cap).</summary>
    public double TargetUtilisation { get; set; } = 0.6;

    /// <summary>
    /// Scale-down needs the load to fit in the smaller farm below <c>TargetUtilisation × (1 − ScaleDownMargin)</c>, so a
    /// load hovering at the target does not add and remove a node on alternate rounds.
    /// </summary>
    public double ScaleDownMargin { get; set; } = 0.1;

    /// <summary>The fewest ready nodes the farm keeps; at least 1.</summary>
    public int MinNodes { get; set; } = 1;

    /// <summary>The most nodes the autoscaler asks for.</summary>
    public int MaxNodes { get; set; } = 10;

    /// <summary>After any scaling, how long before the autoscaler may scale up (new nodes take time to start and report).</summary>
    public TimeSpan ScaleUpCooldown { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>After any scaling, how long before the autoscaler may scale down (clients of a drain take time to move).</summary>
    public TimeSpan ScaleDownCooldown { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the active autoscaler looks at the cluster.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The capacity of one node in connections. 0 (the default) takes the mean capacity the ready nodes report in
    /// their heartbeats; set it when the farm can be empty or nodes differ.
    /// </summary>
    public int CapacityPerNode { get; set; }

    /// <summary>The provisioner, by name: one of <see cref="Provisioners"/>.</summary>
    public string Provisioner { get; set; } = Provisioners.Process;

    /// <summary>Settings of the <c>process</c> provisioner.</summary>
    public ProcessProvisionerOptions Process { get; set; } = new();

    /// <summary>Settings of the <c>command</c> provisioner.</summary>
    public CommandProvisionerOptions Command { get; set; } = new();

    /// <summary>Settings of the <c>webhook</c> provisioner.</summary>
    public WebhookProvisionerOptions Webhook { get; set; } = new();

    /// <summary>Adds a message naming each bad setting to <paramref name="failures"/>.</summary>
    internal void Validate(string prefix, List<string> failures)
    {
        prefix += "Autoscale:";
        if (!double.IsFinite(TargetUtilisation) || TargetUtilisation <= 0 || TargetUtilisation > 1)
        {
            failures.Add($"{prefix}{nameof(TargetUtilisation)} is {TargetUtilisation}; it must be in (0, 1].");
        }
        if (!double.IsFinite(ScaleDownMargin) || ScaleDownMargin < 0 || ScaleDownMargin >= 1)
        {
            failures.Add($"{prefix}{nameof(ScaleDownMargin)} is {ScaleDownMargin}; it must be in [0, 1).");
        }
        if (MinNodes < 1)
        {
            failures.Add($"{prefix}{nameof(MinNodes)} is {MinNodes}; it must be >= 1 (a farm scaled to no node never grows again: /v1/connect answers no_nodes, so no load arrives to ask for one).");
        }
        if (MaxNodes < 1 || MaxNodes < MinNodes)
        {
            failures.Add($"{prefix}needs MaxNodes >= 1 and MinNodes <= MaxNodes (got {MinNodes} and {MaxNodes}).");
        }
        if (Interval <= TimeSpan.Zero || ScaleUpCooldown < TimeSpan.Zero || ScaleDownCooldown < TimeSpan.Zero)
        {
            failures.Add($"{prefix}needs Interval > 0, ScaleUpCooldown >= 0 and ScaleDownCooldown >= 0.");
        }
        if (CapacityPerNode < 0)
        {
            failures.Add($"{prefix}{nameof(CapacityPerNode)} is {CapacityPerNode}; it must be >= 0.");
        }
        if (!Enabled)
        {
            return;
        }
        switch (Provisioner)
        {
            case Provisioners.Process when string.IsNullOrEmpty(Process.Executable):
                failures.Add($"{prefix}Process:Executable is not set: the program that runs `switchboard node` (`switchboard gateway` sets it to itself).");
                break;
            case Provisioners.Command when string.IsNullOrEmpty(Command.FileName):
                failures.Add($"{prefix}Command:FileName is not set: the command to run with the desired count.");
                break;
            case Provisioners.Webhook when Webhook.Url is null || !Webhook.Url.IsAbsoluteUri || (Webhook.Url.Scheme != Uri.UriSchemeHttp && Webhook.Url.Scheme != Uri.UriSchemeHttps):
                failures.Add($"{prefix}Webhook:Url must be an absolute http:// or https:// URL.");
                break;
            case Provisioners.Process or Provisioners.Command or Provisioners.Webhook:
                break;
            default:
                failures.Add($"{prefix}{nameof(Provisioner)} is '{Provisioner}', which is not a provisioner; valid names: {string.Join(", ", Provisioners.All)}.");
                break;
        }
    }
}

/// <summary>Settings of the <c>process</c> provisioner: it starts <c>switchboard node</c> processes on this machine.</summary>
public sealed class ProcessProvisionerOptions
{
    /// <summary>The program to start (the <c>switchboard</c> apphost, or <c>dotnet</c> with the dll in <see cref="Arguments"/>).</summary>
    public string? Executable { get; set; }

    /// <summary>Arguments before <c>node …</c> (for <c>dotnet</c>: the path of <c>switchboard.dll</c>).</summary>
    public string[] Arguments { get; set; } = [];

    /// <summary>Arguments after <c>node --node-id … --port 0</c>, e.g. <c>--max-connections 5000</c>.</summary>
    public string[] NodeArguments { get; set; } = [];

    /// <summary>The broker URL the nodes join (given to them as <c>SWITCHBOARD__Backplane__Url</c>, not on the command line).</summary>
    public string? BackplaneUrl { get; set; }

    /// <summary>The cluster secret (given to the nodes as <c>SWITCHBOARD__Cluster__Secret</c>); default: <c>Gateway:ClusterSecret</c>.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>Node ids are this prefix and a number: <c>autoscaled-1</c>, <c>autoscaled-2</c>, …</summary>
    public string NodeIdPrefix { get; set; } = "autoscaled-";
}

/// <summary>Settings of the <c>command</c> provisioner: it runs a command with the desired count, e.g. a Kubernetes scale.</summary>
public sealed class CommandProvisionerOptions
{
    /// <summary>The program to run, e.g. <c>kubectl</c> or <c>/bin/sh</c>.</summary>
    public string? FileName { get; set; }

    /// <summary>
    /// Its arguments; <c>{count}</c> in any of them becomes the desired node count. The count is also in the
    /// environment as <c>SWITCHBOARD_DESIRED_NODES</c> (and the current one as <c>SWITCHBOARD_CURRENT_NODES</c>).
    /// </summary>
    public string[] Arguments { get; set; } = [];

    /// <summary>How long the command may run before it is killed and the scaling counted as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>Settings of the <c>webhook</c> provisioner: it POSTs <c>{desired, current, nodes, reason}</c> as JSON.</summary>
public sealed class WebhookProvisionerOptions
{
    /// <summary>The URL to POST to.</summary>
    public Uri? Url { get; set; }

    /// <summary>How long to wait for the answer (a non-2xx answer counts as failed).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
