using System.Buffers.Text;
using System.Security.Cryptography;

namespace Switchboard.Gateway.Connect;

/// <summary>Makes session ids: 16 random bytes, base64url without padding.</summary>
internal static class SessionIds
{
    public static string New()
    {
        // Cryptographic randomness, not the injected Random: a session id must not be guessable from earlier ones.
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>True for a plausible session id: 1 to 64 base64url characters (the node checks the rest).</summary>
    public static bool IsWellFormed(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
