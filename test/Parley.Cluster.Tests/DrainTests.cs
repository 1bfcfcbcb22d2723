using System.Diagnostics;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Cluster.Tests;

/// <summary>A rolling deploy: SIGTERM drains a node (close 1012) and its clients resume on the others through nginx.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class DrainTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task After_a_sigterm_the_drained_nodes_sdk_clients_resume_on_other_nodes_quickly_and_lose_nothing()
    {
        var cluster = fixture.Cluster;
        var users = await fixture.UsersAsync(12, "d");
        var room = await fixture.RoomAsync(users);
        var clients = new List<SdkRecorder>();
        try
        {
            foreach (var user in users)
            {
                clients.Add(await SdkRecorder.ConnectAsync(cluster.BaseUri, user, room));
            }

            var victim = fixture.Nodes.OrderByDescending(n => clients.Count(c => c.Client.NodeId == n.Id)).First();
            var drained = clients.Where(c => c.Client.NodeId == victim.Id).ToList();
            Assert.NotEmpty(drained);

            using var stopSending = new CancellationTokenSource();
            var senders = clients.Select(c => c.SendLoopAsync(room, TimeSpan.FromMilliseconds(100), stopSending.Token)).ToList();
            await Task.Delay(1000);
            var terminatedAt = Stopwatch.GetTimestamp();
            await victim.TerminateAsync();
            output.WriteLine($"{victim.Id} exited {Stopwatch.GetElapsedTime(terminatedAt).TotalMilliseconds:F0} ms after SIGTERM");
            stopSending.CancelAfter(TimeSpan.FromSeconds(2));
            await Task.WhenAll(senders).WaitAsync(Wait);

            var last = (await cluster.Api.AllMessagesAsync(users[0], room)).Count;
            Assert.Equal(clients.Sum(c => c.Acks.Count), last);
            foreach (var c in clients)
            {
                await Eventually.TrueAsync(() => c.Received.Count >= last, Wait, () => $"{c.User.Username} got {c.Received.Count}/{last}\n{cluster.Diagnostics()}");
                Assert.True(c.ReceivedSeqs().IsExactly1To(last), $"{c.User.Username}: {string.Join(",", c.ReceivedSeqs())}");
            }

            var reconnectMs = drained.Select(c => Stopwatch.GetElapsedTime(terminatedAt, c.SyncedAfter(terminatedAt) ?? throw new InvalidOperationException($"{c.User.Username} never resumed")).TotalMilliseconds).Order().ToList();
            output.WriteLine($"resumed after SIGTERM, {reconnectMs.Count} clients: p50 {reconnectMs[reconnectMs.Count / 2]:F0} ms, max {reconnectMs[^1]:F0} ms; connections per client: {string.Join(",", drained.Select(c => c.Client.Connections))}");
            Assert.All(drained, c => Assert.NotEqual(victim.Id, c.Client.NodeId));

            // One reconnection each, and quick: nginx must not keep steering reconnects into the draining node (which
            // answers them 503 until it exits) while the clients back off.
            Assert.All(drained, c => Assert.Equal(2, c.Client.Connections));
            Assert.True(reconnectMs[^1] < 3000, $"slowest resume {reconnectMs[^1]:F0} ms");
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }

            await cluster.HealAsync();
        }
    }
}
