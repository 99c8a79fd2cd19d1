using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using Switchboard.Memory;
using Switchboard.Node.Memory;
using Switchboard.Tests.Common;

namespace Switchboard.Node.Tests.Memory;

/// <summary>The node's trimmer: samples once a second, trims when due, says what it gave back; and the trim itself.</summary>
public sealed class IdleTrimmerTests
{
    private const long MB = 1024 * 1024;

    [Fact]
    public async Task AfterASettledBurst_TrimsOnce_LogsAndCountsWhatItGaveBack()
    {
        var time = new ManualTimeProvider();
        var logger = new RecordingLogger();
        using var meters = new ScopedMeterFactory();
        var counted = new Dictionary<string, long>();
        using var listener = Listen(meters, counted);
        int connections = 0, samples = 0, trims = 0;
        var trimmer = NodeIdleTrim.For(new NodeOptions(),
            () =>
            {
                Interlocked.Increment(ref samples);
                return Volatile.Read(ref connections);
            },
            () => 0,
            () =>
            {
                Interlocked.Increment(ref trims);
                return new TrimOutcome(100 * MB, 80 * MB, 70 * MB, 60 * MB, 40 * MB, TimeSpan.FromMilliseconds(20), NativeTrimmed: true);
            },
            time, logger, new NodeMetrics(meters));
        trimmer.Start();
        try
        {
            await TickAsync(time, () => samples, 1);
            Volatile.Write(ref connections, 2000);
            // The burst is seen at the second sample; five quiet seconds later (the default settle time) it is trimmed.
            for (var second = 2; second <= 6; second++)
            {
                await TickAsync(time, () => samples, second);
                Volatile.Read(ref trims).ShouldBe(0, $"second {second}: not settled yet");
            }
            await TickAsync(time, () => samples, 7);
            await Eventually.TrueAsync(() => Volatile.Read(ref trims) == 1, "the trim once the burst has settled");
            for (var second = 8; second <= 60; second++)
            {
                await TickAsync(time, () => samples, second);
            }

            Volatile.Read(ref trims).ShouldBe(1, "idle and unchanged: no second trim");
            logger.Count("IdleTrimmed").ShouldBe(1);
            logger.Entries.Single(e => e.EventName == "IdleTrimmed").Message.ShouldContain("RSS 100 MB -> 70 MB (20 MB by the collection, 10 MB by malloc_trim)");
            listener.RecordObservableInstruments();
            counted["switchboard.node.memory.trims"].ShouldBe(1);
            counted["switchboard.node.memory.trimmed"].ShouldBe(30 * MB);
        }
        finally
        {
            await trimmer.DisposeAsync().AsTask().WithTimeout("stopping the trimmer");
        }
    }

    [Fact]
    public void Trim_CollectsAndTrimsTheNativeHeap_WhereTheCLibraryHasMallocTrim()
    {
        var outcome = MemoryTrim.Run();

        outcome.RssBefore.ShouldBeGreaterThan(0);
        outcome.RssAfter.ShouldBeGreaterThan(0);
        outcome.HeapCommittedAfter.ShouldBeGreaterThan(0);
        outcome.NativeTrimmed.ShouldBe(HasMallocTrim(), "glibc: malloc_trim runs; musl and other systems skip it");
    }

    private static bool HasMallocTrim() =>
        OperatingSystem.IsLinux() && NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, "malloc_trim", out _);

    private static async Task TickAsync(ManualTimeProvider time, Func<int> samples, int expected)
    {
        time.Advance(IdleTrimmer.SampleInterval);
        await Eventually.TrueAsync(() => samples() >= expected, $"sample {expected}");
    }

    private static MeterListener Listen(ScopedMeterFactory meters, Dictionary<string, long> counted)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (counted)
            {
                counted[instrument.Name] = counted.GetValueOrDefault(instrument.Name) + value;
            }
        });
        listener.Start();
        return listener;
    }
}
