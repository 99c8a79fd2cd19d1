using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Switchboard.Gateway.Autoscale;

/// <summary>
/// <c>command</c>: runs the configured command with the desired count (<c>{count}</c> in its arguments, and
/// <c>SWITCHBOARD_DESIRED_NODES</c> in its environment), e.g. <c>kubectl scale statefulset/switchboard --replicas={count}</c>.
/// A non-zero exit or a run past the timeout fails the scaling.
/// </summary>
internal sealed class CommandProvisioner(CommandProvisionerOptions options, ILogger logger) : IProvisioner
{
    public const string DesiredVariable = "SWITCHBOARD_DESIRED_NODES";
    public const string CurrentVariable = "SWITCHBOARD_CURRENT_NODES";
    private const string CountPlaceholder = "{count}";

    public string Name => Provisioners.Command;

    public async Task ScaleAsync(ScaleRequest request, CancellationToken cancellationToken = default)
    {
        var count = request.Desired.ToString(CultureInfo.InvariantCulture);
        var info = new ProcessStartInfo(options.FileName!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in options.Arguments)
        {
            info.ArgumentList.Add(argument.Replace(CountPlaceholder, count, StringComparison.Ordinal));
        }
        info.Environment[DesiredVariable] = count;
        info.Environment[CurrentVariable] = request.Current.ToString(CultureInfo.InvariantCulture);
        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new ProvisionerException($"could not run {options.FileName}: {e.Message}", e);
        }
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.Timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            throw new ProvisionerException($"{options.FileName} ran longer than {options.Timeout} and was killed");
        }
        await Task.WhenAll(output, errors).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new ProvisionerException($"{options.FileName} exited with code {process.ExitCode}: {(await errors.ConfigureAwait(false)).Trim()}");
        }
        logger.ProvisionerRan(Name, request.Desired);
    }
}
