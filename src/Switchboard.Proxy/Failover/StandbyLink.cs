using System.Net.WebSockets;
using Switchboard.Proxy.Listening;
using Switchboard.Proxy.Policies;

namespace Switchboard.Proxy.Failover;

/// <summary>
/// A failover client's second node connection: the same user on another node, with a session of its own (a standby
/// ticket names the session it stands by, and the node checks that session is live). It receives every message for the
/// user as the primary does, and the groups the client joined are joined here too; its copies wait in the
/// <see cref="MirrorWindow"/> until the primary delivers the same message. When the primary's node dies, the standby is
/// promoted: what only it received goes to the client, and its stream carries on.
/// </summary>
internal sealed class StandbyLink : IDisposable
{
    private readonly MirrorWindow _window;
    private readonly CancellationTokenSource _mirroring = new();
    private readonly SemaphoreSlim _sending = new(1, 1);
    private Task _mirror = Task.CompletedTask;
    private long _lastSeq;

    private StandbyLink(NodeLink link, string session, string node, MirrorWindow window)
    {
        Link = link;
        Session = session;
        Node = node;
        _window = window;
    }

    public NodeLink Link { get; }

    /// <summary>The standby's own session (the one a promotion continues).</summary>
    public string Session { get; }

    /// <summary>The node it is on.</summary>
    public string Node { get; }

    /// <summary>The node's seq of the last message the standby read.</summary>
    public long LastSeq => Interlocked.Read(ref _lastSeq);

    /// <summary>Completes when the standby's connection ended (its node went or drains), unless it was promoted first.</summary>
    public Task Gone => _mirror;

    /// <summary>Asks the gateway for a standby ticket, opens it and joins <paramref name="groups"/>.</summary>
    /// <exception cref="GatewayRefusedException">The gateway refuses the proxy.</exception>
    /// <exception cref="InvalidOperationException">The node refused the standby or did not welcome it.</exception>
    public static async Task<StandbyLink> OpenAsync(ProxyRuntime runtime, FailoverServices services, string userId, string session, string primaryNode,
        string? forwardedFor, Func<IReadOnlyCollection<string>> groups, MirrorWindow window, CancellationToken token)
    {
        var options = runtime.Settings.Options;
        var placement = await services.Gateway.StandbyAsync(userId, session, primaryNode, token).ConfigureAwait(false);
        if (placement.Node == primaryNode)
        {
            // On the session's own node it would die with it: wait for another node.
            throw new InvalidOperationException($"no node but {primaryNode} takes connections");
        }
        var backend = runtime.Pool.FindNode(placement.Node);
        var url = new Uri($"{(backend?.Url ?? placement.Url).GetLeftPart(UriPartial.Path)}?{TicketPolicy.TokenParameter}={Uri.EscapeDataString(placement.Token)}&{FailoverFrames.NodeQuery}");
        var link = await NodeLink.OpenAsync(services.Nodes, backend, url, forwardedFor, options, token).ConfigureAwait(false);
        try
        {
            var first = await FrameReader.ReceiveAsync(link.Socket, token).ConfigureAwait(false);
            var welcome = first is { } frame && FailoverFrames.Scan(frame.Data).Type == FailoverFrames.Welcome ? FailoverFrames.ReadWelcome(frame.Data) : null;
            if (welcome?.Session is not { } standbySession)
            {
                throw new InvalidOperationException($"node {placement.Node} refused the standby ({(int?)link.Socket.CloseStatus} {link.Socket.CloseStatusDescription})");
            }
            var standby = new StandbyLink(link, standbySession, placement.Node, window);
            foreach (var group in groups())
            {
                await standby.MirrorAsync(FailoverFrames.Membership(FailoverFrames.Join, group)).ConfigureAwait(false);
            }
            link.StartReading();
            standby._mirror = standby.MirrorStreamAsync();
            return standby;
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    /// <summary>Sends a client's <c>join</c> or <c>leave</c> to the standby too; a failure only means the standby is going.</summary>
    public async Task MirrorAsync(byte[] frame)
    {
        await _sending.WaitAsync().ConfigureAwait(false);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Link.Socket.SendAsync(frame, WebSocketMessageType.Text, true, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task MirrorStreamAsync()
    {
        var token = _mirroring.Token;
        try
        {
            while (await Link.ReceiveAsync(token).ConfigureAwait(false) is { } frame)
            {
                var (type, seq, id, _, _, _) = FailoverFrames.Scan(frame.Data);
                if (type == FailoverFrames.Message && seq is { } s)
                {
                    Interlocked.Exchange(ref _lastSeq, s);
                    if (id is { } messageId)
                    {
                        _window.Standby(messageId, frame.Data);
                    }
                }
                else if (type == FailoverFrames.Reconnect)
                {
                    // Its node drains: this standby ends, and a new one is opened elsewhere.
                    break;
                }
                // Anything else (an error answering a mirrored join, say) is the standby's own business.
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return; // promoted: the relay reads on from here
        }
        catch (Exception e) when (e is WebSocketException or IOException or FrameTooLargeException or ObjectDisposedException or OperationCanceledException)
        {
        }
        await CloseAsync().ConfigureAwait(false);
    }

    /// <summary>Stops mirroring so the relay can read the standby's stream; null when the standby already ended.</summary>
    public async Task<NodeLink?> PromoteAsync()
    {
        await _mirroring.CancelAsync().ConfigureAwait(false);
        await _mirror.ConfigureAwait(false);
        return Link.Socket.State == WebSocketState.Open ? Link : null;
    }

    /// <summary>Ends the standby's session on its node (1000) and the connection.</summary>
    public async Task CloseAsync()
    {
        await _sending.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Link.Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Link.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "standby no longer needed", timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
        }
        finally
        {
            _sending.Release();
        }
        Link.Dispose();
    }

    public void Dispose()
    {
        _mirroring.Cancel();
        Link.Dispose();
        _mirroring.Dispose();
    }
}
