using System.Globalization;

namespace Switchboard.Proxy.Backends;

/// <summary>
/// One static backend as written on the command line or in configuration:
/// <c>ws://host:port[/path][,weight=N]</c> (also <c>tcp://host:port</c> for the <c>tcp</c> mode).
/// </summary>
/// <param name="Id">A stable, readable id (<c>host:port</c> plus the path when there is one); the stickiness cookie carries it.</param>
/// <param name="Url">The backend's URL.</param>
/// <param name="Weight">Relative weight for the weighted policies; at least 1.</param>
public sealed record BackendAddress(string Id, Uri Url, int Weight)
{
    /// <summary>Parses <c>ws://host:port[/path][,weight=N]</c>.</summary>
    /// <exception cref="FormatException">The text is not a backend; the message says why.</exception>
    public static BackendAddress Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new FormatException("A backend is empty; expected ws://host:port[/path][,weight=N].");
        }
        if (!Uri.TryCreate(parts[0], UriKind.Absolute, out var url) || url.Scheme is not ("ws" or "tcp") || url.Port <= 0 || string.IsNullOrEmpty(url.Host))
        {
            throw new FormatException($"Backend '{parts[0]}' is not a ws://host:port[/path] (or tcp://host:port) URL with an explicit port; wss:// is not supported yet.");
        }
        var weight = 1;
        foreach (var option in parts.Skip(1))
        {
            var pair = option.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length == 2 && pair[0] == "weight" && int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out weight) && weight is >= 1 and <= 1000)
            {
                continue;
            }
            throw new FormatException($"Backend option '{option}' of '{text}' is not weight=N with N from 1 to 1000.");
        }
        return new BackendAddress(IdOf(url), url, weight);
    }

    /// <summary>The id of a backend URL: <c>host:port</c>, plus the path when it is not <c>/</c>.</summary>
    public static string IdOf(Uri url) => url.AbsolutePath is "/" or "" ? url.Authority : url.Authority + url.AbsolutePath;
}
