using System.CommandLine;
using Switchboard.Commands;

var config = new Option<string?>("--config") { Description = "A JSON configuration file (default: appsettings.json if present)", Recursive = true };
var root = new RootCommand("Switchboard: horizontally scaled WebSockets — nodes, backplane, gateway, proxy.")
{
    config,
    UpCommand.Create(config),
    NodeCommand.Create(config),
    GatewayCommand.Create(config),
    ProxyCommand.Create(config),
    TokenCommand.Create(config),
    DrainCommand.Create(),
    WsCommand.Create(),
};
foreach (var bench in BenchCommand.Create())
{
    root.Subcommands.Add(bench);
}
// Ctrl+C or SIGTERM cancels the command; allow time for a node to drain (it bounds itself with Node:DrainTimeout).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(10) });
