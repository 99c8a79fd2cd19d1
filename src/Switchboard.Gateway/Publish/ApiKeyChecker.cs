using System.Security.Cryptography;
using System.Text;

namespace Switchboard.Gateway.Publish;

/// <summary>Checks publish API keys in constant time. With no keys configured, every key is refused.</summary>
internal sealed class ApiKeyChecker
{
    // Compare SHA-256 digests rather than the keys, so neither a key's length nor its prefix leaks through timing.
    private readonly byte[][] _digests;

    public ApiKeyChecker(IEnumerable<string> keys) =>
        _digests = keys.Where(k => !string.IsNullOrEmpty(k)).Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k))).ToArray();

    public bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), digest);
        var match = false;
        // Check every key, without stopping at a match, so the time does not say which key matched.
        foreach (var known in _digests)
        {
            match |= CryptographicOperations.FixedTimeEquals(known, digest);
        }
        return match;
    }
}
