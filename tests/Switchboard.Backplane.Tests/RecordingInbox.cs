using Switchboard.Protocol;
using Switchboard.Tests.Common;

namespace Switchboard.Backplane.Tests;

/// <summary>An inbox that records what it receives, in order, and lets a test wait for it (always with a timeout).</summary>
internal sealed class RecordingInbox(string nodeId) : INodeInbox
{
    private readonly Lock _lock = new();
    private readonly List<RoutedMessage> _messages = [];
    private readonly List<string> _labels = [];

    public string NodeId { get; } = nodeId;

    /// <summary>When set, messages with this label make the inbox throw (and are not recorded).</summary>
    public string? ThrowOnLabel { get; set; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _labels.Count;
            }
        }
    }

    public IReadOnlyList<string> Labels
    {
        get
        {
            lock (_lock)
            {
                return _labels.ToArray();
            }
        }
    }

    public IReadOnlyList<RoutedMessage> Messages
    {
        get
        {
            lock (_lock)
            {
                return _messages.ToArray();
            }
        }
    }

    public void OnMessage(RoutedMessage message)
    {
        var label = TestMessages.LabelOf(message);
        if (label == ThrowOnLabel)
        {
            throw new InvalidOperationException($"inbox of {NodeId} fails on purpose for '{label}'");
        }
        lock (_lock)
        {
            _messages.Add(message);
            _labels.Add(label);
        }
    }

    /// <summary>Requests answer with "&lt;node id&gt;:&lt;kind&gt;:&lt;body&gt;"; kind <c>fail</c> throws, kind <c>never</c> does not answer.</summary>
    public async ValueTask<byte[]> OnRequestAsync(string kind, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case "fail":
                throw new InvalidOperationException("fails on purpose");
            case "never":
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
                break;
        }
        return System.Text.Encoding.UTF8.GetBytes($"{NodeId}:{kind}:{System.Text.Encoding.UTF8.GetString(body.Span)}");
    }

    public Task WaitForCountAsync(int count, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(() => Count >= count, $"{NodeId} to receive {count} messages (has {Count}: {string.Join(", ", Labels.Take(20))})", timeout);

    public Task WaitForLabelAsync(string label, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(() => Labels.Contains(label), $"{NodeId} to receive '{label}' (has {string.Join(", ", Labels.Take(20))})", timeout);
}
