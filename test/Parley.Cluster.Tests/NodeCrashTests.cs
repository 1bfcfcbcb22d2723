using System.Diagnostics;
using Parley.Client;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Cluster.Tests;

/// <summary>kill -9 of a node while its users send: SDK clients resume elsewhere through nginx and lose nothing.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class NodeCrashTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const int SdkUsers = 24;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task After_a_kill_9_sdk_clients_resume_on_other_nodes_every_acked_message_arrives_once_in_order_and_the_dead_nodes_users_go_offline()
    {
        var cluster = fixture.Cluster;
        var users = await fixture.UsersAsync(SdkUsers + 2, "k");
        var room = await fixture.RoomAsync(users);
        var (ghost, observer) = (users[SdkUsers], users[SdkUsers + 1]);
        var clients = new List<SdkRecorder>();
        WsTestClient? ghostWs = null;
        WsTestClient? observerWs = null;
        try
        {
            for (var i = 0; i < SdkUsers; i++)
            {
                clients.Add(await SdkRecorder.ConnectAsync(cluster.BaseUri, users[i], room));
            }

            // The victim is the node holding the most SDK clients (nginx spread them with least_conn).
            var victim = fixture.Nodes.OrderByDescending(n => clients.Count(c => c.Client.NodeId == n.Id)).First();
            var survivor = fixture.Nodes.First(n => n != victim);
            var onVictim = clients.Where(c => c.Client.NodeId == victim.Id).ToList();
            Assert.NotEmpty(onVictim);
            output.WriteLine($"clients per node: {string.Join(", ", fixture.Nodes.Select(n => $"{n.Id}={clients.Count(c => c.Client.NodeId == n.Id)}"))}; victim {victim.Id}");

            // The ghost sits on the victim directly (no nginx, no reconnect); the observer watches presence from a survivor.
            ghostWs = await ClusterFixture.ConnectAsync(ghost, victim);
            observerWs = await ClusterFixture.ConnectAsync(observer, survivor);

            using var stopSending = new CancellationTokenSource();
            var senders = clients.Select(c => c.SendLoopAsync(room, TimeSpan.FromMilliseconds(100), stopSending.Token)).ToList();
            await Task.Delay(1500);

            var killedAt = Stopwatch.GetTimestamp();
            await victim.KillAsync();
            var ghostOffline = Task.Run(async () =>
            {
                await observerWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == ghost.UserId && f.Str("status") == "offline", TimeSpan.FromSeconds(15));
                return Stopwatch.GetElapsedTime(killedAt);
            });
            stopSending.CancelAfter(TimeSpan.FromSeconds(3));
            await Task.WhenAll(senders).WaitAsync(Wait);

            // Every acked message is in the store once, gapless; nothing was stored twice by a resend to another node.
            var acked = clients.SelectMany(c => c.Acks).ToList();
            var stored = await cluster.Api.AllMessagesAsync(users[0], room);
            var last = stored.Count;
            output.WriteLine($"{acked.Count} sends acked; {last} messages stored");
            Assert.True(acked.Count > SdkUsers * 5, $"only {acked.Count} acked sends");
            Assert.Equal(Enumerable.Range(1, last).Select(i => (long)i), stored.Select(m => m.Long("seq")));
            Assert.Equal(last, stored.Select(m => m.Str("clientMsgId")).Distinct().Count());
            var storedSeq = stored.ToDictionary(m => m.Str("clientMsgId")!, m => m.Long("seq"));
            foreach (var ack in acked)
            {
                Assert.Equal(storedSeq[ack.ClientMsgId], ack.Seq);
            }

            // Every client, the resumed ones included, received every message exactly once and in seq order.
            foreach (var c in clients)
            {
                await Eventually.TrueAsync(() => c.Received.Count >= last, Wait, () => $"{c.User.Username} on {c.Client.NodeId} got {c.Received.Count}/{last}\n{cluster.Diagnostics()}");
                Assert.True(c.ReceivedSeqs().IsExactly1To(last), $"{c.User.Username}: {string.Join(",", c.ReceivedSeqs())}");
            }

            // The victim's SDK clients reconnected through nginx to other nodes.
            var reconnectMs = new List<double>();
            foreach (var c in onVictim)
            {
                Assert.NotEqual(victim.Id, c.Client.NodeId);
                var synced = c.SyncedAfter(killedAt) ?? throw new InvalidOperationException($"{c.User.Username} never synced after the kill");
                reconnectMs.Add(Stopwatch.GetElapsedTime(killedAt, synced).TotalMilliseconds);
            }

            reconnectMs.Sort();
            output.WriteLine($"reconnect after kill (kill to synced on another node), {reconnectMs.Count} clients: p50 {reconnectMs[reconnectMs.Count / 2]:F0} ms, max {reconnectMs[^1]:F0} ms");

            // The ghost goes offline within one presence TTL (2 s; plus a heartbeat round for the sweep and slack for a
            // busy test machine); the resumed users never do.
            var offlineAfter = await ghostOffline;
            output.WriteLine($"the dead node's unreconnected user went offline {offlineAfter.TotalMilliseconds:F0} ms after the kill");
            Assert.True(offlineAfter < TimeSpan.FromSeconds(3.5), $"offline only after {offlineAfter}");
            await Task.Delay(1000);
            foreach (var c in onVictim)
            {
                Assert.DoesNotContain(observerWs.All, f => f.Op() == "presence" && f.Str("userId") == c.User.UserId && f.Str("status") == "offline");
            }

            var stats = await cluster.Api.CallAsync(HttpMethod.Get, "api/v1/stats");
            var statNodes = stats.Body.GetProperty("nodes").EnumerateArray().Select(n => n.Str("id")).ToList();
            Assert.DoesNotContain(victim.Id, statNodes);
            Assert.Equal(fixture.Nodes.Count - 1, statNodes.Count);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }

            if (ghostWs is not null)
            {
                await ghostWs.DisposeAsync();
            }

            if (observerWs is not null)
            {
                await observerWs.DisposeAsync();
            }

            await cluster.HealAsync();
        }
    }
}
