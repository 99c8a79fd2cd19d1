using System.CommandLine;
using System.Net.Http.Json;
using System.Text;

namespace Switchboard.Commands;

/// <summary>
/// <c>switchboard drain &lt;node&gt; --gateway URL --admin-key K</c>: asks a gateway to drain a node (or, with
/// <c>--count</c>, to move some of its connections); the gateway relays it over the backplane.
/// </summary>
internal static class DrainCommand
{
    public static Command Create()
    {
        var node = new Argument<string>("node") { Description = "The id of the node to drain" };
        var gateway = new Option<string>("--gateway") { Description = "The gateway's base URL, e.g. http://127.0.0.1:7000", Required = true };
        var adminKey = new Option<string?>("--admin-key") { Description = "An admin key of the gateway (Gateway:AdminKeys; default: $SWITCHBOARD_ADMIN_KEY)" };
        var count = new Option<int?>("--count") { Description = "Move only this many connections and leave the node ready (a partial drain)" };
        var command = new Command("drain", "Drain a node through a gateway: its clients move to other nodes and resume, then it stops")
        {
            node, gateway, adminKey, count,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var key = parse.GetValue(adminKey) ?? Environment.GetEnvironmentVariable("SWITCHBOARD_ADMIN_KEY");
            if (string.IsNullOrEmpty(key))
            {
                Console.Error.WriteLine("error: an admin key is required: --admin-key or SWITCHBOARD_ADMIN_KEY.");
                return 2;
            }
            if (parse.GetValue(count) is <= 0)
            {
                Console.Error.WriteLine("error: --count must be positive.");
                return 2;
            }
            if (!Uri.TryCreate(parse.GetValue(gateway), UriKind.Absolute, out var gatewayUrl) || (gatewayUrl.Scheme != "http" && gatewayUrl.Scheme != "https"))
            {
                Console.Error.WriteLine("error: --gateway must be an absolute http:// or https:// URL.");
                return 2;
            }
            var nodeId = parse.GetValue(node)!;
            var baseUrl = gatewayUrl.GetLeftPart(UriPartial.Path).TrimEnd('/');
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{baseUrl}/v1/admin/nodes/{Uri.EscapeDataString(nodeId)}/drain")
            {
                Content = new StringContent(parse.GetValue(count) is { } n ? $"{{\"count\":{n}}}" : "{}", Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("X-Admin-Key", key);
            try
            {
                using var response = await http.SendAsync(request, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    Console.Error.WriteLine($"error: {(int)response.StatusCode} {body}");
                    return 1;
                }
                Console.WriteLine(body);
                return 0;
            }
            catch (HttpRequestException e)
            {
                Console.Error.WriteLine($"error: the gateway at {baseUrl} is unreachable: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
