using System.CommandLine;
using Switchboard.Commands;

var config = new Option<string?>("--config") { Description = "A JSON configuration file (default: appsettings.json if present)", Recursive = true };
var root = new RootCommand("Switchboard: horizontally scaled WebSockets — nodes, backplane, gateway.")
{
    config,
    UpCommand.Create(config),
    TokenCommand.Create(config),
    WsCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
