using System.Collections.Concurrent;

namespace Parley.Chaos;

/// <summary>Per-second counters of a run: what was offered, acked, refused, and connections dropped.</summary>
public sealed class Timeline
{
    private readonly ConcurrentDictionary<int, Bucket> _buckets = new();

    public double? FaultStart { get; set; }

    public double? FaultEnd { get; set; }

    public double End { get; set; }

    public void Sent(double t) => Interlocked.Increment(ref At(t).Sent);

    public void Acked(double t) => Interlocked.Increment(ref At(t).Acked);

    public void Refused(double t) => Interlocked.Increment(ref At(t).Refused);

    public void Dropped(double t) => Interlocked.Increment(ref At(t).Dropped);

    public IReadOnlyList<Bucket> Seconds()
    {
        var last = Math.Max((int)End, _buckets.IsEmpty ? 0 : _buckets.Keys.Max());
        return Enumerable.Range(0, last + 1).Select(s => _buckets.TryGetValue(s, out var b) ? b : new Bucket()).ToList();
    }

    private Bucket At(double t) => _buckets.GetOrAdd((int)t, _ => new Bucket());

    /// <summary>One second of the run.</summary>
    public sealed class Bucket
    {
        public int Sent;
        public int Acked;
        public int Refused;
        public int Dropped;
    }
}
