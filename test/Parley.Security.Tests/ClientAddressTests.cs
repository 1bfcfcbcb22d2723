using System.Net;
using Parley.Server.Auth;

namespace Parley.Security.Tests;

/// <summary>The per-address throttles count IPv4 addresses one by one and IPv6 addresses by their /64.</summary>
[Trait("Tier", "Security")]
public sealed class ClientAddressTests
{
    [Theory]
    [InlineData("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:3::1", "2001:db8:1:3::/64")]
    [InlineData("::ffff:10.0.0.1", "10.0.0.1")]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("10.0.0.2", "10.0.0.2")]
    public void Addresses_are_counted_under_their_ipv4_address_or_ipv6_network(string address, string key) =>
        Assert.Equal(key, ClientAddress.ThrottleKey(IPAddress.Parse(address)));

    [Fact]
    public void Guesses_from_every_address_of_one_ipv6_network_share_one_budget()
    {
        var throttle = new AttemptThrottle(1_000_000, 50, TimeSpan.FromMinutes(5), TimeProvider.System);
        var granted = 0;
        for (var i = 1; i <= 200; i++)
        {
            var from = ClientAddress.ThrottleKey(IPAddress.Parse($"2001:db8:0:7::{i:x}"));
            if (throttle.TryBegin($"user{i}", from, out _))
            {
                granted++;
            }
        }

        Assert.Equal(50, granted);
        Assert.True(throttle.TryBegin("someone", ClientAddress.ThrottleKey(IPAddress.Parse("2001:db8:0:8::1")), out _));
    }

    [Fact]
    public void An_unknown_address_has_a_key_of_its_own() => Assert.Equal("?", ClientAddress.ThrottleKey(null));
}
