using Parley.Security.Tests.Support;
using Parley.Server.Auth;

namespace Parley.Security.Tests;

/// <summary>The login throttle counts per account and per address, and forgets what left its window.</summary>
public sealed class LoginThrottleTests
{
    [Fact]
    public void Failures_over_many_usernames_are_forgotten_once_they_leave_the_window()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var throttle = new AttemptThrottle(1_000_000, 1_000_000, TimeSpan.FromMinutes(5), clock);
        for (var i = 0; i < 5000; i++)
        {
            Assert.True(throttle.TryBegin($"user{i}", "10.0.0.1", out _));
        }

        Assert.True(throttle.TrackedKeys > 5000);
        clock.Advance(TimeSpan.FromMinutes(6));
        for (var i = 0; i < 1024; i++)
        {
            Assert.True(throttle.TryBegin("later", "10.0.0.2", out _));
        }

        // The sweep dropped every window whose attempts left the span; only the recent ones remain.
        Assert.True(throttle.TrackedKeys <= 2, $"{throttle.TrackedKeys} windows still tracked");
    }

    [Fact]
    public void Ten_failures_lock_the_account_from_any_address_until_they_age_out()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var throttle = new AttemptThrottle(10, 50, TimeSpan.FromMinutes(5), clock);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(throttle.TryBegin("alice", $"10.0.0.{i}", out _));
        }

        Assert.False(throttle.TryBegin("alice", "10.9.9.9", out _));
        clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        Assert.True(throttle.TryBegin("alice", "10.9.9.9", out _));
    }

    [Fact]
    public void Attempts_in_flight_count_so_parallel_guesses_cannot_pass_the_limit_together()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var throttle = new AttemptThrottle(10, 50, TimeSpan.FromMinutes(5), clock);

        // 200 attempts begin before any has been judged: only the limit's worth may go on to a hash.
        var begun = Enumerable.Range(0, 200).AsParallel().Count(i => throttle.TryBegin("alice", $"10.0.{i / 250}.{i % 250}", out _));
        Assert.Equal(10, begun);
    }

    [Fact]
    public void A_refunded_attempt_no_longer_counts_but_a_wrong_guess_does()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var throttle = new AttemptThrottle(3, 50, TimeSpan.FromMinutes(5), clock);
        for (var i = 0; i < 20; i++)
        {
            // Successful logins (refunded) never lock the account.
            Assert.True(throttle.TryBegin("bob", "10.0.0.1", out var ok));
            throttle.Refund("bob", "10.0.0.1", ok);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.True(throttle.TryBegin("bob", "10.0.0.1", out _));
        }

        Assert.False(throttle.TryBegin("bob", "10.0.0.2", out _));
        Assert.Equal(2, throttle.TrackedKeys);
    }
}
