using System.Collections.Concurrent;
using System.Diagnostics;

namespace Parley.Chat;

/// <summary>Per-user token buckets for sends (this node's share of the limit): a sustained rate and a burst.</summary>
public sealed class SendRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly double _ratePerTick;
    private readonly double _burst;
    private long _lastSweep = Stopwatch.GetTimestamp();

    /// <summary>Creates a limiter of <paramref name="perSecond"/> sends per second with bursts of <paramref name="burst"/>.</summary>
    public SendRateLimiter(double perSecond, int burst)
    {
        _ratePerTick = perSecond / Stopwatch.Frequency;
        _burst = Math.Max(1, burst);
    }

    /// <summary>Takes one token for the user; false when over the limit.</summary>
    public bool TryAcquire(string userId)
    {
        var now = Stopwatch.GetTimestamp();
        SweepIdle(now);
        var bucket = _buckets.GetOrAdd(userId, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: _burst, Now: now));
        lock (bucket)
        {
            bucket.Tokens = Math.Min(_burst, bucket.Tokens + ((now - bucket.Updated) * _ratePerTick));
            bucket.Updated = now;
            if (bucket.Tokens < 1)
            {
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    // Buckets that have refilled completely carry no state worth keeping.
    private void SweepIdle(long now)
    {
        var last = Volatile.Read(ref _lastSweep);
        if (now - last < Stopwatch.Frequency * 60 || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (var (user, bucket) in _buckets)
        {
            if (bucket.Tokens + ((now - bucket.Updated) * _ratePerTick) >= _burst)
            {
                _buckets.TryRemove(user, out _);
            }
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens { get; set; } = tokens;

        public long Updated { get; set; } = updated;
    }
}
