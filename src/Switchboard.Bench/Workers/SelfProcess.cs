using System.Diagnostics;
using System.Reflection;

namespace Switchboard.Bench.Workers;

/// <summary>Starts this same program (<c>switchboard …</c>) again, however it was launched (apphost or <c>dotnet switchboard.dll</c>).</summary>
public static class SelfProcess
{
    /// <summary>A start description for <c>switchboard {arguments}</c> with redirected standard streams.</summary>
    public static ProcessStartInfo StartInfo(params string[] arguments)
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        var info = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var entry = Assembly.GetEntryAssembly()?.Location;
        if (Path.GetFileNameWithoutExtension(processPath) == "dotnet" && entry is not null)
        {
            info.FileName = processPath;
            // Under a test host the entry assembly is the test runner: point at the switchboard program beside this library.
            var program = Path.GetFileName(entry).StartsWith("switchboard", StringComparison.OrdinalIgnoreCase)
                ? entry
                : Path.Combine(AppContext.BaseDirectory, "switchboard.dll");
            info.ArgumentList.Add(program);
        }
        else
        {
            info.FileName = processPath;
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        return info;
    }
}
