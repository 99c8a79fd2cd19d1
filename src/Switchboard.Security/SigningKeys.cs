using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace Switchboard.Security;

/// <summary>Builds signing keys from configured secrets, with a clear error when a secret is too weak for HS256.</summary>
public static class SigningKeys
{
    /// <summary>HS256 needs at least 256 bits of key.</summary>
    public const int MinSecretBytes = 32;

    /// <summary>A symmetric key from a UTF-8 secret of at least <see cref="MinSecretBytes"/> bytes.</summary>
    /// <exception cref="ArgumentException">The secret is missing or shorter than 32 bytes.</exception>
    public static SymmetricSecurityKey FromSecret(string? secret, string settingName)
    {
        if (string.IsNullOrEmpty(secret))
        {
            throw new ArgumentException($"{settingName} is not set: it must be a secret of at least {MinSecretBytes} bytes.", settingName);
        }
        var bytes = Encoding.UTF8.GetBytes(secret);
        if (bytes.Length < MinSecretBytes)
        {
            throw new ArgumentException($"{settingName} is {bytes.Length} bytes long; HS256 needs at least {MinSecretBytes}.", settingName);
        }
        return new SymmetricSecurityKey(bytes);
    }
}
