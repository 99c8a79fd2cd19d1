namespace Switchboard.Backplane.RabbitMq;

/// <summary>Options of <see cref="RabbitMqBackplane"/>.</summary>
public sealed class RabbitMqBackplaneOptions
{
    /// <summary>The broker, e.g. <c>amqp://guest:guest@127.0.0.1:5672/</c> (a vhost may follow the last slash).</summary>
    public Uri? Uri { get; set; }

    /// <summary>Prefix of every exchange and queue name; clusters with different prefixes can share a broker.</summary>
    public string Prefix { get; set; } = "switchboard";

    /// <summary>Batch frames for the same destination node or group into one AMQP message.</summary>
    public bool Coalescing { get; set; } = true;

    /// <summary>How long a batch waits for more frames before it is sent (when <see cref="Coalescing"/>).</summary>
    public TimeSpan CoalesceDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>A batch is sent at once when it reaches this size.</summary>
    public int CoalesceMaxBytes { get; set; } = 64 * 1024;

    /// <summary>Frames waiting to be published before senders are made to wait (back-pressure instead of memory growth).</summary>
    public int PublishQueueCapacity { get; set; } = 65_536;

    /// <summary>
    /// How long a flush (a <c>confirm=1</c> send's answer) waits for the broker's confirm before it fails: a broker that
    /// blocks publishers confirms nothing.
    /// </summary>
    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First delay before reconnecting to a lost broker; doubles per failed attempt, with jitter.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest delay between reconnection attempts.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the first connection may take before start-up fails.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The connection name shown in the broker's management tools.</summary>
    public string ClientName { get; set; } = "switchboard";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (Uri is null || (Uri.Scheme != "amqp" && Uri.Scheme != "amqps"))
        {
            throw new ArgumentException($"Backplane URI must be an amqp:// or amqps:// URL, got '{Uri?.ToString() ?? "(none)"}'.", nameof(Uri));
        }
        if (string.IsNullOrWhiteSpace(Prefix) || Prefix.Contains('*') || Prefix.Contains('#'))
        {
            throw new ArgumentException("Backplane prefix must be non-empty and without '*' or '#'.", nameof(Prefix));
        }
        if (CoalesceDelay < TimeSpan.Zero || CoalesceDelay > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException("CoalesceDelay must be between 0 and 1 s.", nameof(CoalesceDelay));
        }
        if (CoalesceMaxBytes < 1024 || CoalesceMaxBytes > 16 * 1024 * 1024)
        {
            throw new ArgumentException("CoalesceMaxBytes must be between 1 KiB and 16 MiB.", nameof(CoalesceMaxBytes));
        }
        if (PublishQueueCapacity < 1)
        {
            throw new ArgumentException("PublishQueueCapacity must be positive.", nameof(PublishQueueCapacity));
        }
        if (ConfirmTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ConfirmTimeout must be positive.", nameof(ConfirmTimeout));
        }
        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay)
        {
            throw new ArgumentException("Reconnect delays must be positive, the maximum at least the minimum.", nameof(ReconnectMaxDelay));
        }
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ConnectTimeout must be positive.", nameof(ConnectTimeout));
        }
    }

    /// <summary>The broker address without credentials, for logs and errors.</summary>
    internal string SafeEndpoint => Uri is null ? "(none)" : $"{Uri.Scheme}://{Uri.Host}:{(Uri.IsDefaultPort ? 5672 : Uri.Port)}{Uri.AbsolutePath}";
}
