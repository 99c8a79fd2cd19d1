using System.CommandLine;
using Switchboard.Commands;

var config = new Option<string?>("--config") { Description = "A JSON configuration file (default: appsettings.json if present)", Recursive = true };
var root = new RootCommand("Switchboard: horizontally scaled WebSockets — nodes, backplane, gateway.")
{
    config,
    UpCommand.Create(config),
    NodeCommand.Create(config),
    GatewayCommand.Create(config),
    TokenCommand.Create(config),
    DrainCommand.Create(),
    WsCommand.Create(),
};
// Ctrl+C or SIGTERM cancels the command; allow time for a node to drain (it bounds itself with Node:DrainTimeout).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(10) });
