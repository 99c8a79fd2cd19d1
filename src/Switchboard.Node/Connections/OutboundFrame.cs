using Switchboard.Protocol;

namespace Switchboard.Node.Connections;

/// <summary>A frame waiting in a connection's send queue: a finished frame, or a message plus the seq it was given.</summary>
internal readonly struct OutboundFrame
{
    public OutboundFrame(byte[] frame)
    {
        Frame = frame;
    }

    public OutboundFrame(RoutedMessage message, long seq)
    {
        Message = message;
        Seq = seq;
    }

    public byte[]? Frame { get; }

    public RoutedMessage? Message { get; }

    public long Seq { get; }
}
