using System.Collections.Concurrent;

namespace Parley.Server.Auth;

/// <summary>
/// Throttles password guessing: failed logins are counted per account and per client address in a sliding window;
/// past the limit, further attempts are refused with 429 before any hashing.
/// </summary>
public sealed class LoginThrottle
{
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly int _perAccount;
    private readonly int _perAddress;
    private readonly TimeSpan _span;
    private readonly TimeProvider _clock;
    private int _addsSinceSweep;

    /// <summary>Creates the throttle: at most <paramref name="perAccount"/> and <paramref name="perAddress"/> failures per <paramref name="span"/>.</summary>
    public LoginThrottle(int perAccount, int perAddress, TimeSpan span, TimeProvider clock)
    {
        _perAccount = perAccount;
        _perAddress = perAddress;
        _span = span;
        _clock = clock;
    }

    /// <summary>How many accounts and addresses have failures tracked right now (memory stays bounded by recent failures).</summary>
    public int TrackedKeys => _windows.Count;

    /// <summary>True when another attempt for this account from this address may proceed.</summary>
    public bool Allows(string account, string address) =>
        Count("a:" + account) < _perAccount && Count("i:" + address) < _perAddress;

    /// <summary>Records a failed attempt.</summary>
    public void Failed(string account, string address)
    {
        Add("a:" + account);
        Add("i:" + address);
    }

    private int Count(string key)
    {
        if (!_windows.TryGetValue(key, out var window))
        {
            return 0;
        }

        lock (window)
        {
            window.Trim(_clock.GetUtcNow() - _span);
            if (window.Failures.Count == 0)
            {
                _windows.TryRemove(key, out _);
            }

            return window.Failures.Count;
        }
    }

    private void Add(string key)
    {
        // Guesses spread over many usernames or addresses would otherwise leave a window behind for each: every 1,024
        // failures, windows whose failures all left the span are dropped.
        if (Interlocked.Increment(ref _addsSinceSweep) % 1024 == 0)
        {
            foreach (var other in _windows.Keys)
            {
                _ = Count(other);
            }
        }

        var window = _windows.GetOrAdd(key, _ => new Window());
        lock (window)
        {
            window.Trim(_clock.GetUtcNow() - _span);
            window.Failures.Enqueue(_clock.GetUtcNow());
        }
    }

    private sealed class Window
    {
        public Queue<DateTimeOffset> Failures { get; } = new();

        public void Trim(DateTimeOffset oldest)
        {
            while (Failures.Count > 0 && Failures.Peek() < oldest)
            {
                Failures.Dequeue();
            }
        }
    }
}
