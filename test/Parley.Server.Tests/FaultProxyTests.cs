using System.Net;
using System.Net.Sockets;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>The fault-injection proxy the fault campaign relies on does what its modes promise.</summary>
[Trait("Tier", "Server")]
public sealed class FaultProxyTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    [Fact]
    public async Task Pass_forwards_blackhole_stalls_without_closing_and_reset_refuses()
    {
        await using var proxy = new TcpFaultProxy(node.Server.BaseUri.Port);
        var through = new Uri($"http://127.0.0.1:{proxy.Port}/");
        using (var http = new HttpClient { BaseAddress = through, Timeout = TimeSpan.FromSeconds(20) })
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
        }

        proxy.SetMode(ProxyMode.Blackhole);
        using (var stalled = new HttpClient { BaseAddress = through, Timeout = TimeSpan.FromSeconds(2) })
        {
            var request = stalled.GetAsync("healthz");
            await Eventually.TrueAsync(() => proxy.OpenLinks >= 1, TimeSpan.FromSeconds(10), "a link open through the proxy");
            await Assert.ThrowsAnyAsync<TaskCanceledException>(() => request);
        }

        proxy.SetMode(ProxyMode.Pass);
        using (var http = new HttpClient { BaseAddress = through, Timeout = TimeSpan.FromSeconds(20) })
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
        }

        proxy.SetMode(ProxyMode.Reset);
        using (var http = new HttpClient { BaseAddress = through, Timeout = TimeSpan.FromSeconds(20) })
        {
            // A connection reset as soon as it is made surfaces either wrapped by HttpClient or, when the reset beats
            // the connect's own bookkeeping, as the raw socket error.
            Exception? refused = null;
            try
            {
                await http.GetAsync("healthz");
            }
            catch (Exception e) when (e is HttpRequestException or SocketException)
            {
                refused = e;
            }

            Assert.NotNull(refused);
        }

        // Links end asynchronously once both sides closed (the last HttpClient was just disposed): none stays open.
        await Eventually.TrueAsync(() => proxy.OpenLinks == 0, TimeSpan.FromSeconds(10), "every link closed");
        Assert.Equal(0, proxy.OpenLinks);
    }
}
