using System.Collections.Concurrent;
using System.Diagnostics;

namespace Parley.Chat;

/// <summary>
/// Per-user token buckets for sends (this node's share of the limit): a sustained rate and a burst. A user who keeps
/// flooding (more than <c>floodRejects</c> refused sends within <c>floodWindow</c>) is refused outright for
/// <c>floodCooldown</c>, and the bucket does not refill meanwhile: without that, a client sending 1,000 a second would
/// still land its 20 a second (issue 7: at least 99 % of a flood is refused).
/// </summary>
public sealed class SendRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly double _ratePerTick;
    private readonly double _burst;
    private readonly int _floodRejects;
    private readonly long _floodWindowTicks;
    private readonly long _cooldownTicks;
    private long _lastSweep = Stopwatch.GetTimestamp();

    /// <summary>
    /// Creates a limiter of <paramref name="perSecond"/> sends per second with bursts of <paramref name="burst"/>; more
    /// than <paramref name="floodRejects"/> refusals within <paramref name="floodWindow"/> block the user for
    /// <paramref name="floodCooldown"/> (no cooldown when it is zero or absent).
    /// </summary>
    public SendRateLimiter(double perSecond, int burst, int floodRejects = int.MaxValue, TimeSpan floodWindow = default, TimeSpan floodCooldown = default)
    {
        _ratePerTick = perSecond / Stopwatch.Frequency;
        _burst = Math.Max(1, burst);
        _floodRejects = Math.Max(1, floodRejects);
        _floodWindowTicks = (long)(floodWindow.TotalSeconds * Stopwatch.Frequency);
        _cooldownTicks = (long)(floodCooldown.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Takes one token for the user; false when over the limit or cooling down after a flood.</summary>
    public bool TryAcquire(string userId)
    {
        var now = Stopwatch.GetTimestamp();
        SweepIdle(now);
        var bucket = _buckets.GetOrAdd(userId, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: _burst, Now: now));
        lock (bucket)
        {
            if (now < bucket.BlockedUntil)
            {
                bucket.Updated = now;
                Refused(bucket, now);
                return false;
            }

            bucket.Tokens = Math.Min(_burst, bucket.Tokens + ((now - bucket.Updated) * _ratePerTick));
            bucket.Updated = now;
            if (bucket.Tokens < 1)
            {
                Refused(bucket, now);
                return false;
            }

            bucket.Tokens -= 1;
            return true;
        }
    }

    private void Refused(Bucket bucket, long now)
    {
        if (_cooldownTicks <= 0)
        {
            return;
        }

        if (now - bucket.WindowStart > _floodWindowTicks)
        {
            bucket.WindowStart = now;
            bucket.Refusals = 0;
        }

        // Refusals during a cooldown count too: a user who does not stop stays blocked.
        if (++bucket.Refusals > _floodRejects)
        {
            bucket.BlockedUntil = now + _cooldownTicks;
            bucket.WindowStart = now;
            bucket.Refusals = 0;
        }
    }

    // Buckets that have refilled completely (and are not blocked) carry no state worth keeping.
    private void SweepIdle(long now)
    {
        var last = Volatile.Read(ref _lastSweep);
        if (now - last < Stopwatch.Frequency * 60 || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (var (user, bucket) in _buckets)
        {
            lock (bucket)
            {
                if (now >= bucket.BlockedUntil && bucket.Tokens + ((now - bucket.Updated) * _ratePerTick) >= _burst)
                {
                    _buckets.TryRemove(user, out _);
                }
            }
        }
    }

    private sealed class Bucket(double tokens, long updated)
    {
        public double Tokens { get; set; } = tokens;

        public long Updated { get; set; } = updated;

        public long WindowStart { get; set; } = updated;

        public int Refusals { get; set; }

        public long BlockedUntil { get; set; }
    }
}
