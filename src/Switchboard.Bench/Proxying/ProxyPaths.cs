namespace Switchboard.Bench.Proxying;

/// <summary>The ways <c>--proxy</c> sends the same scenario's clients to their nodes, as <c>--proxy-paths</c> names them.</summary>
public static class ProxyPaths
{
    /// <summary>Straight at the node the gateway's ticket names, as without <c>--proxy</c>.</summary>
    public const string Direct = "direct";

    /// <summary>Through <c>switchboard proxy</c> processes, which route each ticket to its node.</summary>
    public const string Proxy = "proxy";

    /// <summary>
    /// Through <c>switchboard proxy</c> processes with <c>--kernel-relay true</c>: the kernel relays established
    /// tunnels, where <see cref="Proxy"/> relays them on the proxy's reactor thread. Only when <c>--proxy-paths</c> names it.
    /// </summary>
    public const string ProxyKernel = "proxy-kernel";

    /// <summary>Through HAProxy processes the bench configures itself (when <c>haproxy</c> is on the PATH).</summary>
    public const string HaProxy = "haproxy";

    /// <summary>The paths a run takes when <c>--proxy-paths</c> is not given, in order.</summary>
    public static readonly IReadOnlyList<string> All = [Direct, Proxy, HaProxy];

    /// <summary>Every path <c>--proxy-paths</c> may name.</summary>
    public static readonly IReadOnlyList<string> Known = [Direct, Proxy, ProxyKernel, HaProxy];

    /// <summary>Whether <paramref name="path"/> goes through <c>switchboard proxy</c> processes.</summary>
    public static bool IsSwitchboardProxy(string path) => path is Proxy or ProxyKernel;

    /// <summary>
    /// Open client connections one entry process takes: each holds a client socket and an upstream socket, and a
    /// process may hold at most 20,000 open files.
    /// </summary>
    public const int ConnectionsPerProcess = 9_500;

    /// <summary>Entry processes for <paramref name="connections"/> when <c>--proxy-processes</c> is not given.</summary>
    public static int ProcessesFor(int connections) => Math.Max(1, (int)Math.Ceiling(connections / 9_000.0));
}
