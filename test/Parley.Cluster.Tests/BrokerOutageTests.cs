using System.Diagnostics;
using System.Net;
using System.Text.Json;
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

    [Fact]
    public async Task A_leave_whose_bus_event_is_lost_still_stops_the_leavers_session_on_another_node()
    {
        var cluster = fixture.Cluster;
        var (n1, n2) = (fixture.Nodes[0], fixture.Nodes[1]);
        var users = await fixture.UsersAsync(3, "lv");
        var (alice, bob, carol) = (users[0], users[1], users[2]);
        var room = await fixture.RoomAsync(users);
        await using var bobWs = await ClusterFixture.ConnectAsync(bob, n2);
        await using var carolWs = await ClusterFixture.ConnectAsync(carol, n2);
        try
        {
            Assert.Equal("ack", (await carolWs.SendMessageAsync(room, "before")).Op());
            await bobWs.WaitForAsync(f => f.Op() == "msg" && f.Str("body") == "before", TimeSpan.FromSeconds(10));

            // Bob leaves through node 1 while the broker is down: node 2, where his session is, is never told on the bus,
            // and its own bus does not come back during this test to make it look (that heals on resume).
            await cluster.RabbitMq.StopAsync();
            var leave = await n1.Api.LeaveAsync(bob, room);
            Assert.Equal(HttpStatusCode.NoContent, leave.Status);

            // Node 2's rolling reconciliation (after every head check: 1 s in this cluster) finds it in the store.
            bool IsBobLeft(JsonElement f) => f.Op() == "member" && f.Str("conv") == room && f.Str("userId") == bob.UserId && f.Str("change") == "left";
            await bobWs.WaitForAsync(IsBobLeft, TimeSpan.FromSeconds(15));
            await carolWs.WaitForAsync(IsBobLeft, TimeSpan.FromSeconds(5));
            Assert.True(cluster.RabbitMq.IsRunning is false, "the broker came back before node 2 healed");

            // From then on the room's messages reach its members on node 2, and not Bob.
            Assert.Equal("ack", (await carolWs.SendMessageAsync(room, "after the leave")).Op());
            var sentAfter = Stopwatch.StartNew();
            Assert.True(await bobWs.NoneWithinAsync(f => f.Op() == "msg" && f.Str("body") == "after the leave", TimeSpan.FromSeconds(2)), "Bob received a message of a room he had left");
            Assert.DoesNotContain(bobWs.Messages(room), m => m.Str("body") == "after the leave");
            output.WriteLine($"no delivery to the leaver within {sentAfter.Elapsed.TotalSeconds:F1} s of the send");
            Assert.Equal("error", (await bobWs.SendMessageAsync(room, "still here?")).Op());
        }
        finally
        {
            await cluster.HealAsync();
        }
    }
}
