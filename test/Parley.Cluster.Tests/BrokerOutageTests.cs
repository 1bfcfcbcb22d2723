using System.Diagnostics;
using System.Net;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Cluster.Tests;

/// <summary>RabbitMQ is a hint, never the record: sends keep acking while it is down and members heal afterwards.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class BrokerOutageTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task With_the_broker_down_for_10_s_every_send_acks_and_afterwards_every_member_has_every_message_without_reconnecting()
    {
        var cluster = fixture.Cluster;
        var (n1, n2) = (fixture.Nodes[0], fixture.Nodes[1]);
        var users = await fixture.UsersAsync(2, "b");
        var room = await fixture.RoomAsync(users);
        await using var alice = await ClusterFixture.ConnectAsync(users[0], n1);
        await using var bob = await ClusterFixture.ConnectAsync(users[1], n2);
        try
        {
            Assert.Equal("ack", (await alice.SendMessageAsync(room, "before")).Op());
            await bob.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room, TimeSpan.FromSeconds(10));

            await cluster.RabbitMq.StopAsync();
            Assert.False(cluster.RabbitMq.IsRunning);
            var sent = 1;
            var outage = Stopwatch.StartNew();
            while (outage.Elapsed < Outage)
            {
                foreach (var (ws, name) in new[] { (alice, "alice"), (bob, "bob") })
                {
                    var answer = await ws.SendMessageAsync(room, $"during the outage from {name} #{sent}");
                    Assert.True(answer.Op() == "ack", $"a send during the broker outage was not acked: {answer}");
                    sent++;
                }

                await Task.Delay(200);
            }

            // A node with its bus down says so (its sends still ack: the store is up).
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await n1.ReadyzAsync());

            var restarted = Stopwatch.StartNew();
            await cluster.RabbitMq.StartAgainAsync();
            output.WriteLine($"{sent} messages acked during a {Outage.TotalSeconds} s outage; broker back after {restarted.Elapsed.TotalSeconds:F1} s");

            foreach (var ws in new[] { alice, bob })
            {
                await Eventually.TrueAsync(() => ws.Seqs(room).Count >= sent, TimeSpan.FromSeconds(20), () => $"{sent} messages; got {ws.Seqs(room).Count}\n{cluster.Diagnostics()}");
                Assert.True(ws.Seqs(room).IsExactly1To(sent), string.Join(",", ws.Seqs(room)));
                Assert.False(ws.Closed.IsCompleted, "the client had to reconnect");
            }

            // The bus itself came back: both nodes are ready and rebound the room on the restarted broker.
            await n1.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
            await n2.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
            await cluster.WaitForBindingsAsync(b => b.Has(n1, "conv." + room) && b.Has(n2, "conv." + room), TimeSpan.FromSeconds(15), "the room rebound on both nodes");
            Assert.Equal("ack", (await bob.SendMessageAsync(room, "after")).Op());
            await alice.WaitForAsync(f => f.Op() == "msg" && f.Str("body") == "after", TimeSpan.FromSeconds(5));
        }
        finally
        {
            await cluster.HealAsync();
        }
    }
}
