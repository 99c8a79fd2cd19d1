using System.Diagnostics;

namespace Switchboard.Bench.Proxying;

/// <summary>
/// Starts an entry process under <c>nice</c> (<c>--proxy-nice</c>): every thread it creates inherits the value, which
/// setting it after the start would not give, since Linux keeps a nice value per thread.
/// </summary>
public static class Niceness
{
    /// <summary>The lowest nice value Linux takes.</summary>
    public const int Lowest = -20;

    /// <summary>The highest nice value Linux takes.</summary>
    public const int Highest = 19;

    /// <summary>Makes <paramref name="info"/> start its program through <c>nice -n <paramref name="nice"/></c>; unchanged for 0.</summary>
    public static ProcessStartInfo Apply(ProcessStartInfo info, int nice)
    {
        if (nice == 0)
        {
            return info;
        }
        // nice executes the program in its own place, so the process the bench watches keeps its pid.
        info.ArgumentList.Insert(0, info.FileName);
        info.ArgumentList.Insert(0, nice.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Insert(0, "-n");
        info.FileName = "nice";
        return info;
    }
}
