using System.Runtime.InteropServices;

namespace Switchboard.Memory;

/// <summary>What one trim gave back: resident memory before, after the collection and at the end, and the GC heap's commit.</summary>
/// <param name="RssBefore">Resident memory of the process before the trim, in bytes.</param>
/// <param name="RssAfterCollection">Resident memory after the collection, before the native heap was trimmed.</param>
/// <param name="RssAfter">Resident memory at the end.</param>
/// <param name="HeapCommittedBefore">Bytes the GC heap had committed at the end of the collection before this one.</param>
/// <param name="HeapCommittedAfter">Bytes the GC heap has committed after this collection.</param>
/// <param name="Pause">How long the collection paused the process.</param>
/// <param name="NativeTrimmed">Whether <c>malloc_trim</c> ran (glibc only).</param>
public readonly record struct TrimOutcome(
    long RssBefore, long RssAfterCollection, long RssAfter, long HeapCommittedBefore, long HeapCommittedAfter, TimeSpan Pause, bool NativeTrimmed);

/// <summary>Gives memory the process holds but does not use back to the operating system. Process-wide.</summary>
public static partial class MemoryTrim
{
    private static volatile bool s_noMallocTrim = !OperatingSystem.IsLinux();

    /// <summary>
    /// A blocking, compacting full collection in aggressive mode, then glibc's <c>malloc_trim(0)</c>. Pauses the process
    /// for the collection (tens of milliseconds for a heap of ~50 MB).
    /// </summary>
    public static TrimOutcome Run()
    {
        var rssBefore = Environment.WorkingSet;
        var committedBefore = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var pausedBefore = GC.GetTotalPauseDuration();
        // Aggressive mode decommits the free regions at once; after an ordinary collection the GC gives them back only
        // gradually, during later collections, and a node that sits idle makes none.
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var pause = GC.GetTotalPauseDuration() - pausedBefore;
        var committedAfter = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var rssAfterCollection = Environment.WorkingSet;
        var nativeTrimmed = TrimNativeHeap();
        var rssAfter = nativeTrimmed ? Environment.WorkingSet : rssAfterCollection;
        return new TrimOutcome(rssBefore, rssAfterCollection, rssAfter, committedBefore, committedAfter, pause, nativeTrimmed);
    }

    private static bool TrimNativeHeap()
    {
        if (s_noMallocTrim)
        {
            return false;
        }
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl and other C libraries have no malloc_trim: the collection alone is the trim there.
            s_noMallocTrim = true;
            return false;
        }
    }

    // glibc: gives back the free memory at the top of each malloc arena and every free whole page inside them
    // (madvise), such as the arena that appears during a connect storm.
    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
