namespace Parley.Security.Tests.Support;

/// <summary>Small statistics over measured latencies.</summary>
public static class Stats
{
    /// <summary>The <paramref name="p"/> quantile (nearest rank) of <paramref name="values"/>.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    /// <summary>Open file descriptors of this process (the in-process node's sockets included).</summary>
    public static int OpenFileDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Managed heap after a full, compacting collection.</summary>
    public static long HeapAfterFullGc()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
