using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Switchboard.Protocol;

namespace Switchboard.Commands;

/// <summary>
/// <c>switchboard ws</c>: a raw protocol-v1 client for trying the cluster by hand. Each line typed on stdin
/// is sent as one text frame; each frame received is printed as one line. It knows only docs/protocol.md.
/// </summary>
internal static class WsCommand
{
    public static Command Create()
    {
        var gateway = new Option<string?>("--gateway") { Description = "Gateway URL: ask it for a node and a ticket" };
        var user = new Option<string?>("--user") { Description = "User id for a dev-mode gateway (unsigned)" };
        var token = new Option<string?>("--token") { Description = "User JWT for the gateway (Authorization: Bearer)" };
        var url = new Option<string?>("--url") { Description = "Node WebSocket URL with ?token=<ticket>, to skip the gateway" };
        var command = new Command("ws", "A raw WebSocket client: stdin lines out as frames, frames in as stdout lines") { gateway, user, token, url };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var target = parse.GetValue(url) is { } direct
                    ? ParseUrl(direct, "--url")
                    : await AskGatewayAsync(parse.GetValue(gateway) is { } g ? ParseUrl(g, "--gateway") : null, parse.GetValue(user), parse.GetValue(token), cancellationToken);
                return await PipeAsync(target, cancellationToken);
            }
            catch (Exception e) when (e is ArgumentException or HttpRequestException or WebSocketException or JsonException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Uri ParseUrl(string value, string option) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) ? uri : throw new ArgumentException($"{option} '{value}' is not an absolute URL");

    private static async Task<Uri> AskGatewayAsync(Uri? gateway, string? user, string? token, CancellationToken cancellationToken)
    {
        if (gateway is null || (user is null) == (token is null))
        {
            throw new ArgumentException("give --url, or --gateway with exactly one of --user (dev mode) and --token");
        }
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, "/v1/connect"));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        else
        {
            request.Content = JsonContent.Create(new Dictionary<string, string> { ["userId"] = user! });
        }
        using var response = await http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new ArgumentException($"the gateway answered {(int)response.StatusCode}: {body}");
        }
        using var json = JsonDocument.Parse(body);
        var nodeUrl = json.RootElement.GetProperty(WireNames.Fields.Url).GetString()!;
        var ticket = json.RootElement.GetProperty(WireNames.Fields.Token).GetString()!;
        Console.Error.WriteLine($"placed on {json.RootElement.GetProperty(WireNames.Fields.Node).GetString()} ({nodeUrl})");
        return new Uri($"{nodeUrl}?{WireNames.TokenQueryParameter}={Uri.EscapeDataString(ticket)}");
    }

    private static async Task<int> PipeAsync(Uri target, CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(WireNames.Subprotocol);
        await socket.ConnectAsync(target, cancellationToken);
        var receiving = PrintFramesAsync(socket);
        var stdin = Console.In;
        while (socket.State == WebSocketState.Open)
        {
            var line = await stdin.ReadLineAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromDays(1), cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                break;
            }
            if (line.Length > 0 && socket.State == WebSocketState.Open)
            {
                await socket.SendAsync(Encoding.UTF8.GetBytes(line), WebSocketMessageType.Text, true, cancellationToken);
            }
        }
        if (socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        }
        await receiving.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        Console.Error.WriteLine($"closed: {(int?)socket.CloseStatus} {socket.CloseStatusDescription}");
        return 0;
    }

    private static async Task PrintFramesAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (result.EndOfMessage)
                {
                    Console.WriteLine(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                    message.SetLength(0);
                }
            }
        }
        catch (WebSocketException e)
        {
            Console.Error.WriteLine($"connection lost: {e.Message}");
        }
    }
}
