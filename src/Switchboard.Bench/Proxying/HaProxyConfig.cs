using System.Globalization;
using System.Text;

namespace Switchboard.Bench.Proxying;

/// <summary>A node HAProxy can route to: the id a ticket names and the node's WebSocket address.</summary>
internal sealed record NodeEndpoint(string NodeId, Uri Url);

/// <summary>
/// The haproxy.cfg the bench writes for one HAProxy process: an HTTP frontend that sends each upgrade to the backend
/// named by its ticket's <c>node</c> claim (read with <c>jwt_payload_query</c>, not verified — the node verifies, as
/// with our proxy's <c>ticket</c> policy), one backend per node, and a statistics page for the bench to read.
/// </summary>
internal static class HaProxyConfig
{
    /// <summary>The frontend's name, as its statistics line shows it.</summary>
    public const string Frontend = "ws";

    /// <summary>The path of the statistics page in CSV.</summary>
    public const string StatsPath = "/stats;csv";

    /// <summary>The configuration text.</summary>
    /// <param name="listenPort">The loopback port clients dial.</param>
    /// <param name="statsPort">The loopback port of the statistics page.</param>
    /// <param name="nodes">The nodes, each its own backend.</param>
    /// <param name="maxConnections">Client connections at most (each holds two sockets; a process may hold 20,000 files).</param>
    /// <param name="threads">Worker threads.</param>
    /// <param name="source">The local address upstream sockets bind to, or null for the system's choice.</param>
    public static string Render(int listenPort, int statsPort, IReadOnlyList<NodeEndpoint> nodes, int maxConnections, int threads, string? source)
    {
        var c = new StringBuilder();
        void Line(string text) => c.Append(text).Append('\n');
        Line("# written by switchboard bench --proxy");
        Line("global");
        Line($"    maxconn {Str(maxConnections)}");
        Line($"    nbthread {Str(threads)}");
        Line("defaults");
        // HTTP mode reads the upgrade request (as our tunnel mode does), then relays bytes once the node answers 101.
        Line("    mode http");
        Line($"    maxconn {Str(maxConnections)}");
        Line("    option forwardfor");
        Line("    timeout connect 3s");
        Line("    timeout http-request 10s");
        // The same idle limit as our proxy's Proxy:IdleTimeout; the tunnel timeout governs upgraded connections.
        Line("    timeout client 5m");
        Line("    timeout server 5m");
        Line("    timeout tunnel 5m");
        Line("    timeout client-fin 5s");
        if (source is not null)
        {
            Line($"    source {source}");
        }
        Line($"frontend {Frontend}");
        Line($"    bind 127.0.0.1:{Str(listenPort)}");
        Line("    use_backend %[urlp(token),jwt_payload_query('$.node')]");
        Line("    default_backend any-node");
        foreach (var node in nodes)
        {
            Line($"backend {node.NodeId}");
            Line($"    server {node.NodeId} {node.Url.Host}:{Str(node.Url.Port)}");
        }
        // A ticket naming no known backend falls to the default: any node (it then refuses a ticket made out for another, as behind our proxy).
        Line("backend any-node");
        Line("    balance leastconn");
        foreach (var node in nodes)
        {
            Line($"    server {node.NodeId} {node.Url.Host}:{Str(node.Url.Port)}");
        }
        Line("listen stats");
        Line($"    bind 127.0.0.1:{Str(statsPort)}");
        Line("    stats enable");
        Line("    stats uri /stats");
        return c.ToString();
    }

    /// <summary>The frontend's open and total sessions from the statistics CSV; null when the line is not there.</summary>
    public static EntryCounts? ParseFrontend(string csv)
    {
        // # pxname,svname,qcur,qmax,scur,smax,slim,stot,…
        foreach (var line in csv.Split('\n'))
        {
            var fields = line.Split(',');
            if (fields.Length > 7 && fields[0] == Frontend && fields[1] == "FRONTEND"
                && long.TryParse(fields[4], CultureInfo.InvariantCulture, out var open) && long.TryParse(fields[7], CultureInfo.InvariantCulture, out var total))
            {
                return new EntryCounts(open, total);
            }
        }
        return null;
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}
