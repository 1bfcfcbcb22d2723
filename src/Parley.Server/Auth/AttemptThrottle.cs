namespace Parley.Server.Auth;

/// <summary>
/// Throttles attempts that cost a password hash: they are counted per account and per client address in a sliding
/// window; past the limit, further attempts are refused with 429 before any hashing. One instance counts logins (wrong
/// guesses), another registrations (per address only).
/// </summary>
/// <remarks>
/// An attempt is counted when it begins, before its hash, and taken back when it turns out not to be a wrong guess
/// (<see cref="Refund"/>). Counting only after the hash let parallel guesses all pass the check while none had failed
/// yet: 200 logins sent at once were 200 guesses, however low the limit.
/// </remarks>
public sealed class AttemptThrottle
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<DateTimeOffset>> _windows = new(StringComparer.Ordinal);
    private readonly int _perAccount;
    private readonly int _perAddress;
    private readonly TimeSpan _span;
    private readonly TimeProvider _clock;
    private int _addsSinceSweep;

    /// <summary>Creates the throttle: at most <paramref name="perAccount"/> and <paramref name="perAddress"/> failed attempts per <paramref name="span"/>.</summary>
    public AttemptThrottle(int perAccount, int perAddress, TimeSpan span, TimeProvider clock)
    {
        _perAccount = perAccount;
        _perAddress = perAddress;
        _span = span;
        _clock = clock;
    }

    /// <summary>How many accounts and addresses have attempts tracked right now (memory stays bounded by recent failures).</summary>
    public int TrackedKeys
    {
        get
        {
            lock (_gate)
            {
                return _windows.Count;
            }
        }
    }

    /// <summary>
    /// Begins an attempt for this account from this address: false when either is at its limit, otherwise true with the
    /// attempt already counted as failed (see <see cref="Refund"/>). The returned stamp identifies it for a refund.
    /// </summary>
    public bool TryBegin(string account, string address, out DateTimeOffset stamp)
    {
        stamp = _clock.GetUtcNow();
        lock (_gate)
        {
            if (Count("a:" + account, stamp) >= _perAccount || Count("i:" + address, stamp) >= _perAddress)
            {
                return false;
            }

            Add("a:" + account, stamp);
            Add("i:" + address, stamp);
            return true;
        }
    }

    /// <summary>Takes back an attempt begun with <paramref name="stamp"/> that was not a wrong guess (it succeeded, or never got to the hash).</summary>
    public void Refund(string account, string address, DateTimeOffset stamp)
    {
        lock (_gate)
        {
            Remove("a:" + account, stamp);
            Remove("i:" + address, stamp);
        }
    }

    private int Count(string key, DateTimeOffset now)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            return 0;
        }

        Trim(window, now - _span);
        if (window.Count == 0)
        {
            _windows.Remove(key);
        }

        return window.Count;
    }

    private void Add(string key, DateTimeOffset now)
    {
        // Guesses spread over many usernames or addresses would otherwise leave a window behind for each: every 1,024
        // attempts, windows whose attempts all left the span are dropped.
        if (++_addsSinceSweep % 1024 == 0)
        {
            foreach (var other in _windows.Keys.ToList())
            {
                _ = Count(other, now);
            }
        }

        if (!_windows.TryGetValue(key, out var window))
        {
            _windows[key] = window = [];
        }

        window.Add(now);
    }

    private void Remove(string key, DateTimeOffset stamp)
    {
        if (_windows.TryGetValue(key, out var window))
        {
            var at = window.LastIndexOf(stamp);
            if (at >= 0)
            {
                window.RemoveAt(at);
            }

            if (window.Count == 0)
            {
                _windows.Remove(key);
            }
        }
    }

    private static void Trim(List<DateTimeOffset> window, DateTimeOffset oldest)
    {
        var stale = 0;
        while (stale < window.Count && window[stale] < oldest)
        {
            stale++;
        }

        window.RemoveRange(0, stale);
    }
}
