using System.Diagnostics;

namespace Switchboard.Node.Heartbeats;

/// <summary>Process CPU use as a fraction of all cores, smoothed by an exponential moving average.</summary>
internal sealed class CpuMeter(TimeProvider time, double smoothing = 0.3)
{
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastTimestamp = time.GetTimestamp();
    private double _average;

    /// <summary>Takes a sample and returns the updated average (0–1).</summary>
    public double Sample()
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var now = time.GetTimestamp();
        var wall = time.GetElapsedTime(_lastTimestamp, now);
        if (wall > TimeSpan.Zero)
        {
            var fraction = (cpu - _lastCpu) / (wall * Environment.ProcessorCount);
            _average = smoothing * Math.Clamp(fraction, 0, 1) + (1 - smoothing) * _average;
        }
        _lastCpu = cpu;
        _lastTimestamp = now;
        return _average;
    }
}
