namespace Parley.Diagnostics;

/// <summary>
/// Durations in microseconds, counted in log-linear buckets: exact up to 32 µs, then 32 buckets per power of two, so a
/// percentile is reported within about 3 % of the value recorded. Safe to record into from any number of threads at
/// once (one interlocked increment per value, no lock, no allocation); a read taken while others record may miss their
/// last few values.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 5;
    private const int Sub = 1 << SubBits;

    // Bucket index of every value with its highest bit at 62 or below: (62 - SubBits + 2) groups of Sub buckets.
    private readonly long[] _counts = new long[(64 - SubBits) * Sub];
    private long _count;
    private long _sum;
    private long _max;

    /// <summary>Records one duration; negative durations count as zero.</summary>
    public void Record(TimeSpan duration) => RecordMicros((long)duration.TotalMicroseconds);

    /// <summary>Records the time elapsed since a <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> value.</summary>
    public void RecordSince(long stopwatchTimestamp) => Record(System.Diagnostics.Stopwatch.GetElapsedTime(stopwatchTimestamp));

    /// <summary>Records one duration in microseconds; negative values count as zero.</summary>
    public void RecordMicros(long micros)
    {
        micros = Math.Max(0, micros);
        Interlocked.Increment(ref _counts[Index(micros)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, micros);
        var max = Volatile.Read(ref _max);
        while (micros > max)
        {
            var seen = Interlocked.CompareExchange(ref _max, micros, max);
            if (seen == max)
            {
                break;
            }

            max = seen;
        }
    }

    /// <summary>What was recorded since the start or the last reset; with <paramref name="reset"/>, starts afresh.</summary>
    public LatencySummary Read(bool reset = false)
    {
        var counts = new long[_counts.Length];
        long total = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = reset ? Interlocked.Exchange(ref _counts[i], 0) : Volatile.Read(ref _counts[i]);
            total += counts[i];
        }

        var sum = reset ? Interlocked.Exchange(ref _sum, 0) : Volatile.Read(ref _sum);
        var max = reset ? Interlocked.Exchange(ref _max, 0) : Volatile.Read(ref _max);
        if (reset)
        {
            Interlocked.Exchange(ref _count, 0);
        }

        if (total == 0)
        {
            return LatencySummary.Empty;
        }

        return new LatencySummary(
            total,
            (double)sum / total,
            Percentile(counts, total, 0.50),
            Percentile(counts, total, 0.90),
            Percentile(counts, total, 0.99),
            Percentile(counts, total, 0.999),
            max);
    }

    /// <summary>The bucket holding <paramref name="v"/>: the value itself below <see cref="Sub"/>, then Sub buckets per power of two.</summary>
    private static int Index(long v)
    {
        if (v < Sub)
        {
            return (int)v;
        }

        var shift = 63 - (int)long.LeadingZeroCount(v) - SubBits;
        return ((shift + 1) << SubBits) + (int)((v >> shift) & (Sub - 1));
    }

    /// <summary>The smallest value counted in bucket <paramref name="index"/>, and how many values it spans.</summary>
    private static (long Lower, long Width) Bucket(int index)
    {
        if (index < Sub)
        {
            return (index, 1);
        }

        var shift = (index >> SubBits) - 1;
        return ((long)(Sub + (index & (Sub - 1))) << shift, 1L << shift);
    }

    private static double Percentile(long[] counts, long total, double q)
    {
        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                var (lower, width) = Bucket(i);
                return lower + ((width - 1) / 2.0);
            }
        }

        return 0;
    }
}

/// <summary>
/// A summary of recorded durations, in microseconds; percentiles are bucket midpoints (within about 3 %), the mean
/// and the maximum exact.
/// </summary>
public sealed record LatencySummary(long Count, double MeanUs, double P50Us, double P90Us, double P99Us, double P999Us, long MaxUs)
{
    /// <summary>Nothing recorded.</summary>
    public static LatencySummary Empty { get; } = new(0, 0, 0, 0, 0, 0, 0);
}
