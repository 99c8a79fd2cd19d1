using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Switchboard.Protocol;
using Switchboard.Security.UserTokens;

namespace Switchboard.Commands;

/// <summary><c>switchboard token --user alice</c>: mints a user JWT signed with the configured user-token secret, as an application would.</summary>
internal static class TokenCommand
{
    public static Command Create(Option<string?> configOption)
    {
        var user = new Option<string>("--user") { Description = "The user id (the token's sub claim)", Required = true };
        var ttl = new Option<TimeSpan>("--ttl") { Description = "How long the token is valid", DefaultValueFactory = _ => TimeSpan.FromHours(1) };
        var secret = new Option<string?>("--secret") { Description = "HS256 secret (default: Gateway:UserTokens:Secret, else the dev secret)" };
        var command = new Command("token", "Mint a user JWT for the configured secret") { user, ttl, secret };
        command.SetAction(parse =>
        {
            var userId = parse.GetValue(user)!;
            if (!Target.IsValidName(userId, out var problem))
            {
                Console.Error.WriteLine($"error: --user: {problem}");
                return 2;
            }
            var configuration = CliConfiguration.Load(parse.GetValue(configOption));
            var configured = parse.GetValue(secret) ?? configuration["Gateway:UserTokens:Secret"];
            if (configured is null)
            {
                Console.Error.WriteLine("note: no Gateway:UserTokens:Secret configured; signing with the DEV secret that `switchboard up` accepts.");
            }
            try
            {
                Console.WriteLine(new UserTokenIssuer(configured ?? CliConfiguration.DevUserTokenSecret).Issue(userId, parse.GetValue(ttl)));
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
