using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Switchboard.Backplane;
using Switchboard.Backplane.RabbitMq;

namespace Switchboard.Commands;

/// <summary>
/// The backplane a command runs on: in-process unless <c>--backplane amqp://…</c> (or <c>Backplane:Url</c>) names a
/// RabbitMQ broker; the rest of the <c>Backplane</c> section (Prefix, Coalescing, CoalesceDelay, …) tunes it.
/// </summary>
internal static class BackplaneSetup
{
    public static Option<string?> CreateOption() =>
        new("--backplane") { Description = "RabbitMQ broker URL (amqp://user:pass@host:port/vhost) for nodes and gateways in many processes; default: in-process" };

    /// <summary>The broker URL from the flag or configuration, or null for the in-process backplane.</summary>
    public static Uri? BrokerUrl(ParseResult parse, Option<string?> option, IConfiguration configuration)
    {
        var value = parse.GetValue(option) ?? configuration["Backplane:Url"];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || (url.Scheme != "amqp" && url.Scheme != "amqps"))
        {
            throw new ArgumentException($"--backplane must be an amqp:// or amqps:// URL, got '{value}'.");
        }
        return url;
    }

    /// <summary>Connects to the broker; fails with <see cref="BackplaneUnavailableException"/> when it cannot be reached.</summary>
    public static async Task<IBackplane> ConnectAsync(Uri? brokerUrl, IConfiguration configuration, ILoggerFactory loggers, string clientName, CancellationToken cancellationToken)
    {
        if (brokerUrl is null)
        {
            return new InMemoryBackplane();
        }
        var options = new RabbitMqBackplaneOptions();
        configuration.GetSection("Backplane").Bind(options);
        options.Uri = brokerUrl;
        options.ClientName = clientName;
        return await RabbitMqBackplane.ConnectAsync(options, loggers.CreateLogger<RabbitMqBackplane>(), cancellationToken: cancellationToken);
    }

    /// <summary>The broker's address without credentials, for what the command prints.</summary>
    public static string Describe(Uri? brokerUrl) =>
        brokerUrl is null ? "in-process backplane" : $"RabbitMQ backplane at {brokerUrl.Scheme}://{brokerUrl.Host}:{(brokerUrl.IsDefaultPort ? 5672 : brokerUrl.Port)}{brokerUrl.AbsolutePath}";
}
