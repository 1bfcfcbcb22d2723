using System.Buffers.Text;
using System.Diagnostics;

namespace Parley.LoadTest.Wire;

/// <summary>
/// One worker's counters and latency histograms for the current phase. Latency is counted from each message's
/// <em>scheduled</em> send time, carried in the message itself, so a stalled server cannot hide its stall (no
/// coordinated omission). Stopwatch timestamps are CLOCK_MONOTONIC, the same clock in every process of the machine.
/// </summary>
public sealed class Metrics
{
    private const int Stripes = 16;
    private readonly Histogram[] _delivery = new Histogram[Stripes];
    private readonly Histogram[] _ack = new Histogram[Stripes];
    private readonly List<string> _errorSamples = [];

    public Metrics()
    {
        for (var i = 0; i < Stripes; i++)
        {
            _delivery[i] = new Histogram();
            _ack[i] = new Histogram();
        }
    }

    /// <summary>When set, a client does not count the copy of its own message (direct: only the recipient's copy counts).</summary>
    public bool SkipOwn { get; set; }

    public long Delivered;
    public long Acked;
    public long Errors;
    public long Sent;
    public long SendFailures;

    /// <summary>Messages scheduled in [From, To) (Stopwatch ticks) are counted; others (warm-up) are ignored.</summary>
    public long From { get; private set; } = long.MaxValue;

    public long To { get; private set; } = long.MaxValue;

    public void StartPhase(long from, long to)
    {
        for (var i = 0; i < Stripes; i++)
        {
            lock (_delivery[i])
            {
                _delivery[i].Reset();
            }

            lock (_ack[i])
            {
                _ack[i].Reset();
            }
        }

        Interlocked.Exchange(ref Delivered, 0);
        Interlocked.Exchange(ref Acked, 0);
        Interlocked.Exchange(ref Errors, 0);
        Interlocked.Exchange(ref Sent, 0);
        Interlocked.Exchange(ref SendFailures, 0);
        lock (_errorSamples)
        {
            _errorSamples.Clear();
        }

        From = from;
        To = to;
    }

    public bool InWindow(long scheduled) => scheduled >= From && scheduled < To;

    public void RecordDelivery(int stripe, long scheduled, long now)
    {
        if (!InWindow(scheduled))
        {
            return;
        }

        Interlocked.Increment(ref Delivered);
        var h = _delivery[stripe & (Stripes - 1)];
        lock (h)
        {
            h.Record(TicksToMicros(now - scheduled));
        }
    }

    public void RecordAck(int stripe, long scheduled, long now)
    {
        if (!InWindow(scheduled))
        {
            return;
        }

        Interlocked.Increment(ref Acked);
        var h = _ack[stripe & (Stripes - 1)];
        lock (h)
        {
            h.Record(TicksToMicros(now - scheduled));
        }
    }

    public void RecordError(string sample)
    {
        Interlocked.Increment(ref Errors);
        lock (_errorSamples)
        {
            if (_errorSamples.Count < 5)
            {
                _errorSamples.Add(sample.Length > 300 ? sample[..300] : sample);
            }
        }
    }

    public List<string> ErrorSamples()
    {
        lock (_errorSamples)
        {
            return [.. _errorSamples];
        }
    }

    public Histogram DeliveryHistogram() => Merge(_delivery);

    public Histogram AckHistogram() => Merge(_ack);

    private static Histogram Merge(Histogram[] stripes)
    {
        var all = new Histogram();
        foreach (var h in stripes)
        {
            lock (h)
            {
                all.Merge(h);
            }
        }

        return all;
    }

    public static long TicksToMicros(long ticks) => ticks * 1_000_000 / Stopwatch.Frequency;

    /// <summary>Finds <c>~T</c> followed by digits in a frame: the scheduled send time the sender wrote into the body.</summary>
    public static bool TryReadMarker(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> marker, out long scheduled)
    {
        scheduled = 0;
        var at = frame.IndexOf(marker);
        if (at < 0)
        {
            return false;
        }

        return Utf8Parser.TryParse(frame[(at + marker.Length)..], out scheduled, out _);
    }
}
