using System.Text.Json.Serialization;

namespace Parley.LoadTest;

/// <summary>
/// A log-linear latency histogram in microseconds (HDR style): 64 linear sub-buckets per power of two, so any recorded value is
/// reported within 1.6 %; values from 1 µs to about 2^36 µs. Mergeable across threads and processes; not thread-safe
/// (each recording thread owns one, merged at the end).
/// </summary>
public sealed class Histogram
{
    private const int SubBits = 7;
    private const int Sub = 1 << SubBits;
    private const int Magnitudes = 36;

    private readonly long[] _counts = new long[(Magnitudes + 1) * Sub];

    /// <summary>Number of values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>Largest value recorded, in µs.</summary>
    public long Max { get; private set; }

    /// <summary>Sum of the values, for the mean.</summary>
    public double Sum { get; private set; }

    /// <summary>Records a value in microseconds (negative values count as 0).</summary>
    public void Record(long micros)
    {
        if (micros < 0)
        {
            micros = 0;
        }

        _counts[Index(micros)]++;
        Count++;
        Sum += micros;
        if (micros > Max)
        {
            Max = micros;
        }
    }

    /// <summary>Records the time since a Stopwatch timestamp.</summary>
    public void RecordSince(long stopwatchTimestamp) =>
        Record((System.Diagnostics.Stopwatch.GetTimestamp() - stopwatchTimestamp) * 1_000_000 / System.Diagnostics.Stopwatch.Frequency);

    private static int Index(long v)
    {
        if (v < Sub)
        {
            return (int)v;
        }

        var magnitude = 63 - (int)long.LeadingZeroCount(v) - SubBits + 1;
        if (magnitude > Magnitudes)
        {
            return LastIndex;
        }

        var sub = (int)(v >> magnitude) - Sub / 2;
        return (magnitude * Sub) + Sub / 2 + sub;
    }

    private static readonly int LastIndex = ((Magnitudes + 1) * Sub) - 1;

    private static long ValueAt(int index)
    {
        if (index < Sub)
        {
            return index;
        }

        var magnitude = (index - (Sub / 2)) / Sub;
        var sub = (index - (Sub / 2)) % Sub;
        // The bucket holds [(Sub/2 + sub) << magnitude, (Sub/2 + sub + 1) << magnitude): report its upper edge.
        return ((long)(Sub / 2 + sub + 1) << magnitude) - 1;
    }

    /// <summary>The value below which <paramref name="percentile"/> % of the values fall (upper bucket edge, capped at max).</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(ValueAt(i), Max);
            }
        }

        return Max;
    }

    /// <summary>Adds another histogram's values to this one.</summary>
    public void Merge(Histogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>Clears every value.</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        Count = 0;
        Sum = 0;
        Max = 0;
    }

    /// <summary>A compact, mergeable form: [index, count] pairs of the non-empty buckets.</summary>
    public HistogramData ToData()
    {
        var pairs = new List<long[]>();
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] != 0)
            {
                pairs.Add([i, _counts[i]]);
            }
        }

        return new HistogramData { Buckets = pairs, Max = Max, Sum = Sum };
    }

    /// <summary>Rebuilds a histogram from <see cref="ToData"/>.</summary>
    public static Histogram FromData(HistogramData? data)
    {
        var h = new Histogram();
        if (data is null)
        {
            return h;
        }

        foreach (var p in data.Buckets)
        {
            h._counts[(int)p[0]] += p[1];
            h.Count += p[1];
        }

        h.Max = data.Max;
        h.Sum = data.Sum;
        return h;
    }

    /// <summary>p50/p99/p99.9/max in milliseconds, plus the count.</summary>
    public LatencySummary Summary() => new()
    {
        Count = Count,
        P50Ms = Percentile(50) / 1000.0,
        P90Ms = Percentile(90) / 1000.0,
        P99Ms = Percentile(99) / 1000.0,
        P999Ms = Percentile(99.9) / 1000.0,
        MaxMs = Max / 1000.0,
        MeanMs = Count == 0 ? 0 : Sum / Count / 1000.0,
    };

    /// <summary>Points of the percentile curve (percentile, ms), for charts.</summary>
    public List<double[]> Curve()
    {
        var points = new List<double[]>();
        foreach (var p in new[] { 0.0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100 })
        {
            points.Add([p, (p >= 100 ? Max : Percentile(Math.Max(p, 0.0001))) / 1000.0]);
        }

        return points;
    }
}

/// <summary>Serialized histogram.</summary>
public sealed class HistogramData
{
    [JsonPropertyName("b")] public List<long[]> Buckets { get; set; } = [];

    [JsonPropertyName("max")] public long Max { get; set; }

    [JsonPropertyName("sum")] public double Sum { get; set; }
}

/// <summary>Latency percentiles in milliseconds.</summary>
public sealed class LatencySummary
{
    public long Count { get; set; }

    public double P50Ms { get; set; }

    public double P90Ms { get; set; }

    public double P99Ms { get; set; }

    public double P999Ms { get; set; }

    public double MaxMs { get; set; }

    public double MeanMs { get; set; }
}
