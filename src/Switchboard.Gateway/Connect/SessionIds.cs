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
}
