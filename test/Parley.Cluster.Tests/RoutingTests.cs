using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Cluster.Tests;

/// <summary>
/// A node binds a conversation's topic only while it has a member's socket, and the users' topic once for as long as it
/// runs (never a binding per user): asserted on the broker itself.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class RoutingTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    // A node keeps a topic bound for Parley:TopicLingerMs (15 s by default) after its last holder leaves, so an unbind
    // is awaited for the linger plus the usual wait.
    private static readonly TimeSpan UnbindWait = TimeSpan.FromSeconds(15) + Wait;

    [Fact]
    public async Task A_room_is_bound_only_on_nodes_with_member_sockets_and_unbound_after_the_last_one_closes()
    {
        var cluster = fixture.Cluster;
        var (n1, n2, n3) = (fixture.Nodes[0], fixture.Nodes[1], fixture.Nodes[2]);
        var users = await fixture.UsersAsync(3);
        var (alice, bob, outsider) = (users[0], users[1], users[2]);
        var room = await fixture.RoomAsync(alice, bob);
        var conv = "conv." + room;

        // A member on each of two nodes, twice on node 1; a non-member on node 3.
        var aliceWs = await ClusterFixture.ConnectAsync(alice, n1);
        var aliceWs2 = await ClusterFixture.ConnectAsync(alice, n1);
        var bobWs = await ClusterFixture.ConnectAsync(bob, n2);
        await using var outsiderWs = await ClusterFixture.ConnectAsync(outsider, n3);
        try
        {
            var bound = await cluster.WaitForBindingsAsync(
                b => b.Has(n1, conv) && b.Has(n2, conv), Wait, $"{conv} on nodes 1 and 2");
            Assert.Equal([n1.QueueName, n2.QueueName], bound.QueuesOf(conv));
            Assert.Equal(AllQueues(n1, n2, n3), bound.QueuesOf("users"));
            foreach (var node in new[] { n1, n2, n3 })
            {
                Assert.DoesNotContain(bound.Of(node), key => key.StartsWith("user.", StringComparison.Ordinal));
            }

            Assert.Equal("ack", (await bobWs.SendMessageAsync(room, "members only")).Op());
            await aliceWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room, Wait);
            Assert.True(await outsiderWs.NoneWithinAsync(f => f.Op() == "msg", TimeSpan.FromMilliseconds(300)));

            // Bob's only socket closes: node 2 drops the room's topic (not the users' one). One of Alice's two sockets
            // closes: node 1 still needs the room.
            await bobWs.DisposeAsync();
            await aliceWs.DisposeAsync();
            var after = await cluster.WaitForBindingsAsync(b => !b.Has(n2, conv), UnbindWait, $"no {conv} on node 2");
            Assert.Equal([n1.QueueName], after.QueuesOf(conv));
            Assert.Equal(AllQueues(n1, n2, n3), after.QueuesOf("users"));

            // The last one closes: no node is bound to the room any more.
            await aliceWs2.DisposeAsync();
            var none = await cluster.WaitForBindingsAsync(b => b.QueuesOf(conv).Count == 0, UnbindWait, $"no queue bound to {conv}");
            Assert.Equal(AllQueues(n1, n2, n3), none.QueuesOf("users"));
        }
        finally
        {
            await bobWs.DisposeAsync();
            await aliceWs.DisposeAsync();
            await aliceWs2.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_node_binds_a_room_when_a_connected_user_joins_it_and_unbinds_when_they_leave()
    {
        var cluster = fixture.Cluster;
        var n3 = fixture.Nodes[2];
        var users = await fixture.UsersAsync(2);
        var room = await fixture.RoomAsync(users[0]);
        var conv = "conv." + room;
        await using var ws = await ClusterFixture.ConnectAsync(users[1], n3);
        Assert.Empty((await cluster.BindingsAsync()).QueuesOf(conv));

        Assert.Equal(System.Net.HttpStatusCode.OK, (await fixture.Nodes[0].Api.JoinAsync(users[1], room)).Status);
        var joined = await cluster.WaitForBindingsAsync(b => b.Has(n3, conv), Wait, conv + " on node 3");
        Assert.Equal([n3.QueueName], joined.QueuesOf(conv));

        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await fixture.Nodes[0].Api.LeaveAsync(users[1], room)).Status);
        await cluster.WaitForBindingsAsync(b => !b.Has(n3, conv), UnbindWait, "no " + conv + " on node 3");
    }

    private static List<string> AllQueues(params ClusterNode[] nodes) => nodes.Select(n => n.QueueName).Order(StringComparer.Ordinal).ToList();
}
