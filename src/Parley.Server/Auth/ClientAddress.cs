using System.Net;
using System.Net.Sockets;

namespace Parley.Server.Auth;

/// <summary>The key a client's address is counted under by the per-address throttles.</summary>
public static class ClientAddress
{
    /// <summary>
    /// An IPv4 address (IPv4-mapped IPv6 included) as itself; an IPv6 address as its /64 network. One IPv6 subscriber
    /// is usually given a whole /64, so counting each address apart would hand anyone 2^64 fresh budgets.
    /// </summary>
    public static string ThrottleKey(IPAddress? address)
    {
        if (address is null)
        {
            return "?";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
