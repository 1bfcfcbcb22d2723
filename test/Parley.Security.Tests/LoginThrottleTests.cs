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
        var throttle = new LoginThrottle(10, 1_000_000, TimeSpan.FromMinutes(5), clock);
        for (var i = 0; i < 5000; i++)
        {
            throttle.Failed($"user{i}", "10.0.0.1");
        }

        Assert.True(throttle.TrackedKeys > 5000);
        clock.Advance(TimeSpan.FromMinutes(6));
        for (var i = 0; i < 1024; i++)
        {
            throttle.Failed("later", "10.0.0.2");
        }

        // The sweep dropped every window whose failures left the span; only the recent ones remain.
        Assert.True(throttle.TrackedKeys <= 2, $"{throttle.TrackedKeys} windows still tracked");
        Assert.False(throttle.Allows("later", "10.0.0.3"));
        Assert.True(throttle.Allows("user1", "10.0.0.3"));
    }

    [Fact]
    public void Ten_failures_lock_the_account_from_any_address_until_they_age_out()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero));
        var throttle = new LoginThrottle(10, 50, TimeSpan.FromMinutes(5), clock);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(throttle.Allows("alice", $"10.0.0.{i}"));
            throttle.Failed("alice", $"10.0.0.{i}");
        }

        Assert.False(throttle.Allows("alice", "10.9.9.9"));
        clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        Assert.True(throttle.Allows("alice", "10.9.9.9"));
    }
}
