using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Parley.Testing;

namespace Parley.Cluster.Tests;

/// <summary>What nodes must get right because they sit behind nginx rather than facing clients.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class BehindNginxTests(ClusterFixture fixture)
{
    [Fact]
    public async Task The_per_address_login_throttle_counts_the_client_behind_nginx_not_nginx_itself()
    {
        var victim = (await fixture.UsersAsync(1, "t"))[0];
        using var attacker = ClientFrom(IPAddress.Parse("127.0.0.2"));
        using var bystander = ClientFrom(IPAddress.Parse("127.0.0.3"));

        // Guess passwords from one address until every node refuses it (each node counts its own failures).
        var refusedInARow = 0;
        for (var attempt = 0; attempt < 400 && refusedInARow < 6; attempt++)
        {
            var status = await LoginAsync(attacker, "nobody" + Guid.NewGuid().ToString("N")[..10], "wrong password");
            refusedInARow = status == HttpStatusCode.TooManyRequests ? refusedInARow + 1 : 0;
            Assert.True(status is HttpStatusCode.Unauthorized or HttpStatusCode.TooManyRequests, $"attempt {attempt}: {status}");
        }

        Assert.Equal(6, refusedInARow);

        // Another client, through the same nginx, still logs in on every node.
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await LoginAsync(bystander, victim.Username, "correct horse battery"));
        }
    }

    private HttpClient ClientFrom(IPAddress local)
    {
        var handler = new SocketsHttpHandler
        {
            // A fresh connection per request spreads them over the nodes (least_conn) like separate clients would.
            PooledConnectionLifetime = TimeSpan.Zero,
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = fixture.Cluster.BaseUri, Timeout = TimeSpan.FromSeconds(15) };
    }

    private static async Task<HttpStatusCode> LoginAsync(HttpClient http, string username, string password)
    {
        using var response = await http.PostAsJsonAsync("api/v1/auth/login", new { username, password });
        return response.StatusCode;
    }
}
