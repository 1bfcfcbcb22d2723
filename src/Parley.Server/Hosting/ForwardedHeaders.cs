using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Parley.Server.Hosting;

/// <summary>
/// Client address and scheme behind trusted reverse proxies. Login throttling counts failures per client address:
/// behind nginx every client would otherwise share nginx's address, and 50 bad guesses would lock everyone out.
/// </summary>
internal static class ForwardedHeaders
{
    public static IApplicationBuilder UseParleyForwardedHeaders(this IApplicationBuilder app, ServerSettings settings)
    {
        if (settings.TrustedProxies.Length == 0)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto,
            // One proxy hop: the entry the proxy appended (the last one) is the client; anything before it is the
            // client's own claim.
            ForwardLimit = 1,
        };
        // The defaults trust loopback; only the configured proxies count.
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in settings.TrustedProxies)
        {
            if (System.Net.IPNetwork.TryParse(entry, out var network))
            {
                options.KnownIPNetworks.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                options.KnownProxies.Add(address);
            }
            else
            {
                throw new InvalidOperationException($"Parley:TrustedProxies: '{entry}' is neither an IP address nor a CIDR network");
            }
        }

        return app.UseForwardedHeaders(options);
    }
}
