using RabbitMQ.Client;

namespace Switchboard.Backplane.RabbitMq;

/// <summary>
/// One live connection to the broker and its two channels: <see cref="Publish"/>, used only by the publisher loop
/// (AMQP channels must not be shared by concurrent publishers), and <see cref="Topology"/>, for declarations,
/// bindings and consumers, used under the backplane's topology lock. The publishing channel is in confirm mode, and
/// <see cref="Confirms"/> follows what the broker has confirmed on it.
/// </summary>
internal sealed class BrokerSession(IConnection connection, IChannel publish, IChannel topology) : IAsyncDisposable
{
    private readonly CancellationTokenSource _lost = new();

    public IConnection Connection { get; } = connection;

    public IChannel Publish { get; } = publish;

    public IChannel Topology { get; } = topology;

    /// <summary>The broker's confirms of what <see cref="Publish"/> sent.</summary>
    public PublishConfirms Confirms { get; } = new();

    /// <summary>Cancelled once this session is gone; work tied to it stops.</summary>
    public CancellationToken Lost => _lost.Token;

    public bool IsOpen => !_lost.IsCancellationRequested && Connection.IsOpen && Publish.IsOpen && Topology.IsOpen;

    /// <summary>Marks the session gone; returns false when it already was.</summary>
    public bool MarkLost()
    {
        if (_lost.IsCancellationRequested)
        {
            return false;
        }
        try
        {
            _lost.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        Confirms.Fail(new BackplaneUnavailableException("The connection to the broker was lost before the broker confirmed every message published on it."));
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        MarkLost();
        try
        {
            // Closing an already dead connection must not hang shutdown or a reconnect.
            await Connection.CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The connection is gone either way.
        }
        await Connection.DisposeAsync().ConfigureAwait(false);
        _lost.Dispose();
    }
}
