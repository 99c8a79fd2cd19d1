using System.Diagnostics.Metrics;

namespace Switchboard.Tests.Common;

/// <summary>
/// A meter factory whose meters carry it as their scope, so a test's <see cref="MeterListener"/> can tell its own
/// instruments from those of components that tests running in parallel created.
/// </summary>
public sealed class ScopedMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    /// <inheritdoc/>
    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Scope = this });
        _meters.Add(meter);
        return meter;
    }

    /// <inheritdoc/>
    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
