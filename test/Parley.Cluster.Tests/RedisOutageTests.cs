using System.Net;
using Parley.Testing;

namespace Parley.Cluster.Tests;

/// <summary>Redis only knows who is online: its outage leaves messaging alone, and presence comes back with it.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class RedisOutageTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Messaging_is_unaffected_while_redis_is_down_and_presence_recovers_when_it_returns()
    {
        var cluster = fixture.Cluster;
        var (n1, n2, n3) = (fixture.Nodes[0], fixture.Nodes[1], fixture.Nodes[2]);
        var users = await fixture.UsersAsync(3, "r");
        var (alice, bob, carol) = (users[0], users[1], users[2]);
        var room = await fixture.RoomAsync(alice, bob);
        await fixture.Api.OpenDmAsync(alice, carol.Username);
        await using var aliceWs = await ClusterFixture.ConnectAsync(alice, n1);
        await using var bobWs = await ClusterFixture.ConnectAsync(bob, n2);
        try
        {
            await cluster.Redis.StopAsync();

            // Live delivery across nodes, and a brand-new connection, all work without Redis.
            for (var i = 1; i <= 5; i++)
            {
                Assert.Equal("ack", (await (i % 2 == 0 ? bobWs : aliceWs).SendMessageAsync(room, $"no redis {i}")).Op());
            }

            foreach (var ws in new[] { aliceWs, bobWs })
            {
                await Eventually.TrueAsync(() => ws.Seqs(room).Count >= 5, Wait, () => string.Join(",", ws.Seqs(room)));
                Assert.True(ws.Seqs(room).IsExactly1To(5));
            }

            await using (var late = await ClusterFixture.ConnectAsync(bob, n3))
            {
                Assert.True(late.Seqs(room).Count == 0 || late.Seqs(room).IsExactly1To(late.Seqs(room).Count));
                Assert.Equal("ack", (await late.SendMessageAsync(room, "from a socket opened during the outage")).Op());
                await aliceWs.WaitForAsync(f => f.Op() == "msg" && f.Str("body") == "from a socket opened during the outage", Wait);
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, await n1.ReadyzAsync());

            // Redis returns empty: every node re-asserts what it holds, and the cluster-wide stats count everyone again.
            await cluster.Redis.RestartAsync();
            foreach (var node in fixture.Nodes)
            {
                await node.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(15));
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (true)
            {
                var stats = (await cluster.Api.CallAsync(HttpMethod.Get, "api/v1/stats")).Body;
                var nodes = stats.GetProperty("nodes").EnumerateArray().Select(n => n.Str("id")).ToHashSet();
                if (stats.Long("onlineUsers") >= 2 && fixture.Nodes.All(n => nodes.Contains(n.Id)))
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"presence did not recover after Redis returned: {stats}\n{cluster.Diagnostics()}");
                await Task.Delay(200);
            }

            // Presence changes flow again: carol comes online on node 3 and alice (node 1) hears of it, then offline.
            var carolWs = await ClusterFixture.ConnectAsync(carol, n3);
            await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == carol.UserId && f.Str("status") == "online", Wait);
            await carolWs.DisposeAsync();
            await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == carol.UserId && f.Str("status") == "offline", Wait);
        }
        finally
        {
            await cluster.HealAsync();
        }
    }
}
