using System.Text;

namespace Switchboard.Proxy.Tunnel;

/// <summary>
/// Where the body of a backend's HTTP/1.1 response ends (RFC 9112 section 6.3), fed the bytes that follow its head:
/// after <c>Content-Length</c> bytes, after the last chunk of a chunked body, at once for a status that has none, else
/// when the backend closes. Lenient: a chunked body it cannot follow is taken to end at the close.
/// </summary>
internal sealed class ResponseBody
{
    private State _state;
    private long _remaining;

    private ResponseBody(State state, long remaining)
    {
        _state = state;
        _remaining = remaining;
    }

    private enum State
    {
        Done,
        Length,
        UntilClose,
        ChunkSize,
        ChunkSizeLine,
        ChunkData,
        ChunkDataEnd,
        TrailerStart,
        TrailerLine,
    }

    /// <summary>True once the whole body has been consumed.</summary>
    public bool IsComplete => _state == State.Done;

    /// <summary>The body framing that the response head <paramref name="head"/> (its final empty line included) with <paramref name="status"/> gives.</summary>
    public static ResponseBody Of(ReadOnlySpan<byte> head, int status)
    {
        if (status is < 200 or 204 or 304)
        {
            return new ResponseBody(State.Done, 0);
        }
        string? contentLength = null;
        string? transferEncoding = null;
        foreach (var line in Encoding.Latin1.GetString(head).Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }
            var name = line.AsSpan(0, colon);
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength ??= line[(colon + 1)..].Trim();
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                transferEncoding = transferEncoding is null ? line[(colon + 1)..] : $"{transferEncoding},{line[(colon + 1)..]}";
            }
        }
        if (transferEncoding is not null)
        {
            // Transfer-Encoding wins over Content-Length; a body whose last coding is not chunked runs until the close.
            var last = transferEncoding.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            return string.Equals(last, "chunked", StringComparison.OrdinalIgnoreCase) ? new ResponseBody(State.ChunkSize, 0) : new ResponseBody(State.UntilClose, 0);
        }
        if (contentLength is not null && long.TryParse(contentLength, System.Globalization.NumberStyles.None, null, out var length))
        {
            return new ResponseBody(length == 0 ? State.Done : State.Length, length);
        }
        return new ResponseBody(State.UntilClose, 0);
    }

    /// <summary>Takes the next bytes from the backend; returns how many of them belong to the body (the rest does not).</summary>
    public int Consume(ReadOnlySpan<byte> data)
    {
        switch (_state)
        {
            case State.Done:
                return 0;
            case State.UntilClose:
                return data.Length;
            case State.Length:
                var taken = (int)Math.Min(_remaining, data.Length);
                _remaining -= taken;
                _state = _remaining == 0 ? State.Done : State.Length;
                return taken;
        }
        var i = 0;
        while (i < data.Length && _state != State.Done)
        {
            if (_state == State.ChunkData)
            {
                var chunk = (int)Math.Min(_remaining, data.Length - i);
                i += chunk;
                _remaining -= chunk;
                _state = _remaining == 0 ? State.ChunkDataEnd : State.ChunkData;
                continue;
            }
            var b = data[i++];
            switch (_state)
            {
                case State.ChunkSize when HexValue(b) is var digit and >= 0:
                    if (_remaining > long.MaxValue >> 4)
                    {
                        _state = State.UntilClose;
                        return data.Length;
                    }
                    _remaining = _remaining * 16 + digit;
                    break;
                case State.ChunkSize or State.ChunkSizeLine when b == '\n':
                    _state = _remaining == 0 ? State.TrailerStart : State.ChunkData;
                    break;
                case State.ChunkSize:
                    _state = State.ChunkSizeLine; // a chunk extension, or the CR
                    break;
                case State.ChunkDataEnd when b == '\n':
                    _state = State.ChunkSize;
                    break;
                case State.TrailerStart when b == '\n':
                    _state = State.Done;
                    break;
                case State.TrailerStart when b != '\r':
                    _state = State.TrailerLine;
                    break;
                case State.TrailerLine when b == '\n':
                    _state = State.TrailerStart;
                    break;
            }
        }
        return i;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
