namespace Switchboard.Bench.Proxying;

/// <summary>The ways <c>--proxy</c> sends the same scenario's clients to their nodes, as <c>--proxy-paths</c> names them.</summary>
public static class ProxyPaths
{
    /// <summary>Straight at the node the gateway's ticket names, as without <c>--proxy</c>.</summary>
    public const string Direct = "direct";

    /// <summary>Through <c>switchboard proxy</c> processes, which route each ticket to its node.</summary>
    public const string Proxy = "proxy";

    /// <summary>Through HAProxy processes the bench configures itself (when <c>haproxy</c> is on the PATH).</summary>
    public const string HaProxy = "haproxy";

    /// <summary>Every path, in the order a run takes them.</summary>
    public static readonly IReadOnlyList<string> All = [Direct, Proxy, HaProxy];

    /// <summary>
    /// Open client connections one entry process takes: each holds a client socket and an upstream socket, and a
    /// process may hold at most 20,000 open files.
    /// </summary>
    public const int ConnectionsPerProcess = 9_500;

    /// <summary>Entry processes for <paramref name="connections"/> when <c>--proxy-processes</c> is not given.</summary>
    public static int ProcessesFor(int connections) => Math.Max(1, (int)Math.Ceiling(connections / 9_000.0));
}
