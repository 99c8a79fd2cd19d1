using System.Net;
using System.Net.Sockets;

namespace Switchboard.Proxy.SourcePool;

/// <summary>
/// Local addresses upstream sockets bind to, taken in turn, so one proxy is not limited to the ~28k ephemeral ports
/// one source address gives per backend. Written <c>127.0.0.2-127.0.0.9</c> (an IPv4 range) or a comma-separated list.
/// </summary>
internal sealed class SourceAddressPool
{
    private readonly IPAddress[] _addresses;
    private int _next = -1;

    public SourceAddressPool(IReadOnlyList<IPAddress> addresses) => _addresses = [.. addresses];

    public IReadOnlyList<IPAddress> Addresses => _addresses;

    /// <summary>Parses the ranges and lists of every entry; an empty input gives null (no pool: the system picks).</summary>
    /// <exception cref="FormatException">An entry is not an address or a range.</exception>
    public static SourceAddressPool? Parse(IEnumerable<string> entries)
    {
        var addresses = new List<IPAddress>();
        foreach (var entry in entries.SelectMany(e => e.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var dash = entry.IndexOf('-');
            if (dash < 0)
            {
                addresses.Add(IPAddress.TryParse(entry, out var single) ? single : throw new FormatException($"Source address '{entry}' is not an IP address."));
                continue;
            }
            if (!IPAddress.TryParse(entry[..dash], out var first) || !IPAddress.TryParse(entry[(dash + 1)..], out var last)
                || first.AddressFamily != AddressFamily.InterNetwork || last.AddressFamily != AddressFamily.InterNetwork)
            {
                throw new FormatException($"Source range '{entry}' is not FIRST-LAST of two IPv4 addresses.");
            }
            var from = ToUInt(first);
            var to = ToUInt(last);
            if (to < from || to - from >= 65536)
            {
                throw new FormatException($"Source range '{entry}' is empty or larger than 65536 addresses.");
            }
            for (var value = from; value <= to; value++)
            {
                addresses.Add(FromUInt(value));
            }
        }
        return addresses.Count == 0 ? null : new SourceAddressPool(addresses);
    }

    /// <summary>The next address of the family of <paramref name="destination"/>, or null when the pool has none of it.</summary>
    public IPAddress? Next(AddressFamily destination)
    {
        for (var tries = 0; tries < _addresses.Length; tries++)
        {
            var address = _addresses[(int)((uint)Interlocked.Increment(ref _next) % (uint)_addresses.Length)];
            if (address.AddressFamily == destination)
            {
                return address;
            }
        }
        return null;
    }

    public override string ToString() => _addresses.Length == 1 ? _addresses[0].ToString() : $"{_addresses[0]}…{_addresses[^1]} ({_addresses.Length} addresses)";

    private static uint ToUInt(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
    }

    private static IPAddress FromUInt(uint value) => new([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
}
