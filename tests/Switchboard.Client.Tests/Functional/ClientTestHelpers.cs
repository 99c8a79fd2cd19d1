using System.Collections.Concurrent;
using Switchboard.Gateway.Placement;
using Switchboard.Hosting;
using Switchboard.Tests.Common;

namespace Switchboard.Client.Tests.Functional;

internal static class ClientTestHelpers
{
    /// <summary>A dev-mode client with quick retries, so a test's reconnects take milliseconds.</summary>
    public static SwitchboardClient NewClient(Uri gateway, string userId, Action<SwitchboardClientOptions>? configure = null)
    {
        var options = new SwitchboardClientOptions
        {
            GatewayUrl = gateway,
            DevUserId = userId,
            ReconnectBaseDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
            CommandTimeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return new SwitchboardClient(options);
    }

    /// <summary>Connects a new client and waits for its welcome.</summary>
    public static async Task<SwitchboardClient> ConnectAsync(Uri gateway, string userId, Action<SwitchboardClientOptions>? configure = null)
    {
        var client = NewClient(gateway, userId, configure);
        await client.ConnectAsync().WithTimeout($"{userId} to connect");
        return client;
    }

    /// <summary>Round-robin placement, so consecutive clients land on different nodes.</summary>
    public static Action<EmbeddedClusterOptions> RoundRobin(Action<EmbeddedClusterOptions>? more = null) => options =>
    {
        var gateway = options.ConfigureGateway;
        options.ConfigureGateway = g =>
        {
            gateway?.Invoke(g);
            g.Placement = PlacementPolicies.RoundRobin;
        };
        more?.Invoke(options);
    };

    /// <summary>The next message, or a timeout naming <paramref name="what"/>.</summary>
    public static async Task<SwitchboardMessage> NextAsync(this IAsyncEnumerator<SwitchboardMessage> messages, string what)
    {
        (await messages.MoveNextAsync().AsTask().WithTimeout(what)).ShouldBeTrue($"the message stream ended before {what}");
        return messages.Current;
    }

    /// <summary>Waits until <paramref name="senderNode"/>'s directory knows that <paramref name="userId"/> is on <paramref name="holderNode"/>.</summary>
    /// <remarks>A node keeps no presence of its own users (it delivers to them itself): on one node there is nothing to wait for.</remarks>
    public static Task PresenceKnownAsync(TestCluster cluster, string senderNode, string userId, string holderNode) =>
        Eventually.TrueAsync(
            () => senderNode == holderNode || cluster.Cluster.Node(senderNode).Node.Cluster.Directory.GetNodes(userId).Contains(holderNode),
            $"{senderNode} to learn that {userId} is on {holderNode}");
}

/// <summary>Records a client's events for assertions.</summary>
internal sealed class ClientEvents
{
    public ClientEvents(SwitchboardClient client)
    {
        client.Connected += (_, e) => Connected.Enqueue(e);
        client.Disconnected += (_, e) => Disconnected.Enqueue(e);
        client.ErrorReceived += (_, e) => Errors.Enqueue(e);
        client.ConnectAttemptFailed += e => FailedAttempts.Enqueue(e);
        client.MessagesLost += (_, e) => Lost.Enqueue(e);
    }

    public ConcurrentQueue<SwitchboardMessagesLostEventArgs> Lost { get; } = new();

    public ConcurrentQueue<SwitchboardConnectedEventArgs> Connected { get; } = new();

    public ConcurrentQueue<SwitchboardDisconnectedEventArgs> Disconnected { get; } = new();

    public ConcurrentQueue<SwitchboardErrorEventArgs> Errors { get; } = new();

    public ConcurrentQueue<SwitchboardException> FailedAttempts { get; } = new();
}
