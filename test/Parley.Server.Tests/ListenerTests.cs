using System.Net;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A node's listening sockets (<c>Parley:ListenSockets</c>): several share the port through <c>SO_REUSEPORT</c>, each
/// with its own accept loop, and the port still belongs to one node only.
/// </summary>
[Trait("Tier", "Server")]
public sealed class ListenerTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Every_listening_socket_accepts_WebSockets_and_REST(int sockets)
    {
        await using var server = await ParleyTestServer.StartAsync(Settings(sockets));
        using var api = new ApiClient(server.BaseUri);
        var user = await api.RegisterAsync("listen");

        // The kernel hashes each connection's addresses to one socket of the group: with 64 connections the chance that
        // a socket gets none is (3/4)^64 for four sockets, so an accept loop that did not run would leave some hanging.
        var clients = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => WsTestClient.ConnectAndHelloAsync(server.WsUri, user.Token)));
        try
        {
            Assert.Equal(64, server.Node.Hub.SessionCount);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }

        // Fresh REST connections too (Kestrel is handed them by whichever socket accepted them).
        for (var i = 0; i < 8; i++)
        {
            using var rest = new HttpClient { BaseAddress = server.BaseUri };
            Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        }
    }

    [Fact]
    public async Task A_second_node_cannot_share_a_port_a_node_listens_on_and_the_port_is_free_again_once_it_stops()
    {
        var first = await ParleyTestServer.StartAsync(Settings(4));
        var port = first.BaseUri.Port;
        try
        {
            // Both would set SO_REUSEPORT: without the node's own check the kernel would let the second join the group
            // and take a share of the first one's connections.
            await Assert.ThrowsAnyAsync<IOException>(() => ParleyTestServer.StartAsync(Settings(4), port));

            using var api = new ApiClient(first.BaseUri);
            var user = await api.RegisterAsync("owner");
            await using var client = await WsTestClient.ConnectAndHelloAsync(first.WsUri, user.Token);
            Assert.Equal(1, first.Node.Hub.SessionCount);
        }
        finally
        {
            await first.DisposeAsync();
        }

        await using var second = await ParleyTestServer.StartAsync(Settings(4), port);
        using var again = new ApiClient(second.BaseUri);
        var someone = await again.RegisterAsync("after");
        await using var c2 = await WsTestClient.ConnectAndHelloAsync(second.WsUri, someone.Token);
        Assert.Equal(1, second.Node.Hub.SessionCount);
    }

    private static Dictionary<string, string?> Settings(int sockets) => new() { ["ListenSockets"] = sockets.ToString(System.Globalization.CultureInfo.InvariantCulture) };
}
