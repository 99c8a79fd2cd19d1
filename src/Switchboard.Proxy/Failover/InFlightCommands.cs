namespace Switchboard.Proxy.Failover;

/// <summary>
/// The commands (<c>send</c>, <c>join</c>, <c>leave</c>, and a <c>ping</c> with an id) a failover client's node has been
/// sent and not yet answered. Each goes with an id, the proxy's own when the client gave none, so the node answers every
/// one; when the node is lost, the unanswered ones go to the next node before anything newer. A node that carried a command out but died
/// before answering gets it again: commands in flight when a node is lost are at least once. Each <c>send</c> also goes
/// with an idempotency <c>key</c> (unless the client gave one), so both copies of a send carried out twice are one message
/// with one <c>mid</c>, and a failover proxy's clients get it once.
/// </summary>
internal sealed class InFlightCommands
{
    /// <summary>Ids the proxy gives start with this; their replies are the proxy's, not the client's.</summary>
    public const string IdPrefix = "~sb";

    private readonly Lock _lock = new();
    private readonly LinkedList<(string Id, FailoverFrame Frame)> _waiting = new();
    // Keys must not repeat across the proxy's clients, proxies and restarts: a random prefix per client connection.
    private readonly string _keyPrefix = IdPrefix + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12)) + ".";
    private long _lastId;
    private long _lastKey;

    /// <summary>
    /// Records a client frame about to go to the node when it is a command that is answered; returns the frame to send
    /// (with the proxy's id added when it had none) and whether it was recorded.
    /// </summary>
    public (FailoverFrame Frame, bool Tracked) Track(FailoverFrame frame, string? type, string? clientId, string? clientKey = null)
    {
        // A ping without an id gets no answer (and wants none), so there is nothing to wait for; one with an id is
        // answered, and a ping carried out twice does no harm.
        if (type is not (FailoverFrames.Send or FailoverFrames.Join or FailoverFrames.Leave) && (type != FailoverFrames.Ping || clientId is null))
        {
            return (frame, false);
        }
        var id = clientId ?? IdPrefix + Interlocked.Increment(ref _lastId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // A send carried out twice (sent again to the next node) must be one message: the key gives both copies one mid.
        var key = type == FailoverFrames.Send && clientKey is null
            ? _keyPrefix + Interlocked.Increment(ref _lastKey).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;
        if (clientId is null || key is not null)
        {
            if (FailoverFrames.WithFields(frame.Data, clientId is null ? id : null, key) is not { } withFields)
            {
                return (frame, false); // not a JSON object: the node refuses it anyway
            }
            frame = frame with { Data = withFields };
        }
        lock (_lock)
        {
            _waiting.AddLast((id, frame));
        }
        return (frame, true);
    }

    /// <summary>A reply with <paramref name="id"/> came: that command is done. True when the id is the proxy's (the client must not see the reply).</summary>
    public bool Answered(string id)
    {
        lock (_lock)
        {
            // Answers come in command order, so the match is almost always the first.
            for (var node = _waiting.First; node is not null; node = node.Next)
            {
                if (node.Value.Id == id)
                {
                    _waiting.Remove(node);
                    break;
                }
            }
        }
        return id.StartsWith(IdPrefix, StringComparison.Ordinal);
    }

    /// <summary>The unanswered commands, oldest first: what the next node gets before anything newer.</summary>
    public List<FailoverFrame> Unanswered()
    {
        lock (_lock)
        {
            return [.. _waiting.Select(w => w.Frame)];
        }
    }
}
