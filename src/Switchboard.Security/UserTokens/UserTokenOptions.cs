namespace Switchboard.Security.UserTokens;

/// <summary>How a gateway checks the user JWTs that applications sign for their users.</summary>
public sealed class UserTokenOptions
{
    /// <summary>HS256 secret shared with the application (at least 32 bytes). Either this or <see cref="PublicKeyPem"/>.</summary>
    public string? Secret { get; set; }

    /// <summary>RS256 public key in PEM form, for applications that sign with a private key.</summary>
    public string? PublicKeyPem { get; set; }

    /// <summary>Required issuer (<c>iss</c>), or null to accept any.</summary>
    public string? Issuer { get; set; }

    /// <summary>Required audience (<c>aud</c>), or null to accept any.</summary>
    public string? Audience { get; set; }

    /// <summary>Tolerated clock difference with the application's signer.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);
}
