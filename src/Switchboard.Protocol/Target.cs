namespace Switchboard.Protocol;

/// <summary>What kind of recipient a message is addressed to.</summary>
public enum TargetKind
{
    /// <summary>Every connection of one user, on every node.</summary>
    User,
    /// <summary>One connection, by its id.</summary>
    Connection,
    /// <summary>Every member of a group, on every node.</summary>
    Group,
    /// <summary>Every connection in the cluster.</summary>
    All,
}

/// <summary>A parsed <c>to</c> value: <c>user:&lt;id&gt;</c>, <c>conn:&lt;id&gt;</c>, <c>group:&lt;name&gt;</c> or <c>all</c>.</summary>
/// <param name="Kind">The kind of recipient.</param>
/// <param name="Name">The user id, connection id or group name; empty for <see cref="TargetKind.All"/>.</param>
public readonly record struct Target(TargetKind Kind, string Name)
{
    /// <summary>The longest user id, connection id or group name accepted.</summary>
    public const int MaxNameLength = 128;

    /// <summary>The broadcast target.</summary>
    public static Target All => new(TargetKind.All, string.Empty);

    /// <summary>Parses a <c>to</c> value; returns false with a reason when it is not a valid target.</summary>
    public static bool TryParse(string? value, out Target target, out string? problem)
    {
        target = default;
        if (string.IsNullOrEmpty(value))
        {
            problem = "'to' must be user:<id>, conn:<id>, group:<name> or all";
            return false;
        }
        if (value == WireNames.Targets.All)
        {
            target = All;
            problem = null;
            return true;
        }
        TargetKind kind;
        string name;
        if (value.StartsWith(WireNames.Targets.UserPrefix, StringComparison.Ordinal))
        {
            (kind, name) = (TargetKind.User, value[WireNames.Targets.UserPrefix.Length..]);
        }
        else if (value.StartsWith(WireNames.Targets.ConnectionPrefix, StringComparison.Ordinal))
        {
            (kind, name) = (TargetKind.Connection, value[WireNames.Targets.ConnectionPrefix.Length..]);
        }
        else if (value.StartsWith(WireNames.Targets.GroupPrefix, StringComparison.Ordinal))
        {
            (kind, name) = (TargetKind.Group, value[WireNames.Targets.GroupPrefix.Length..]);
        }
        else
        {
            problem = $"unknown target '{Truncate(value)}': 'to' must start with user:, conn: or group:, or be all";
            return false;
        }
        if (!IsValidName(name, out problem))
        {
            problem = $"bad target '{Truncate(value)}': {problem}";
            return false;
        }
        target = new Target(kind, name);
        return true;
    }

    /// <summary>
    /// True when <paramref name="name"/> is a usable user id, connection id or group name:
    /// 1 to <see cref="MaxNameLength"/> characters, no control characters.
    /// </summary>
    public static bool IsValidName(string? name, out string? problem)
    {
        if (string.IsNullOrEmpty(name))
        {
            problem = "the name is empty";
            return false;
        }
        if (name.Length > MaxNameLength)
        {
            problem = $"the name is longer than {MaxNameLength} characters";
            return false;
        }
        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                problem = "the name contains a control character";
                return false;
            }
        }
        problem = null;
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Kind == TargetKind.All ? WireNames.Targets.All : Prefix + Name;

    /// <summary>What comes before <see cref="Name"/> in the <c>to</c> value (for <see cref="TargetKind.All"/>, the whole value).</summary>
    internal string Prefix => Kind switch
    {
        TargetKind.User => WireNames.Targets.UserPrefix,
        TargetKind.Connection => WireNames.Targets.ConnectionPrefix,
        TargetKind.Group => WireNames.Targets.GroupPrefix,
        _ => WireNames.Targets.All,
    };

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
