using System.Net;
using Parley.Testing;

namespace Parley.Cluster.Tests;

/// <summary>Users on different nodes see each other's messages and events as if they shared one node.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class CrossNodeTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Room_messages_from_three_nodes_reach_every_member_in_seq_order_tagged_with_the_accepting_node()
    {
        var users = await fixture.UsersAsync(3);
        var room = await fixture.RoomAsync(users);
        var clients = new WsTestClient[3];
        for (var i = 0; i < 3; i++)
        {
            clients[i] = await ClusterFixture.ConnectAsync(users[i], fixture.Nodes[i]);
        }

        try
        {
            for (var round = 0; round < 3; round++)
            {
                for (var i = 0; i < 3; i++)
                {
                    var ack = await clients[i].SendMessageAsync(room, $"round {round} from node {i}");
                    Assert.Equal("ack", ack.Op());
                }
            }

            foreach (var client in clients)
            {
                await Eventually.TrueAsync(() => client.Seqs(room).Count >= 9, Wait, () => $"9 messages; got {string.Join(",", client.Seqs(room))}\n{fixture.Cluster.Diagnostics()}");
                Assert.True(client.Seqs(room).IsExactly1To(9), string.Join(",", client.Seqs(room)));
                var messages = client.Messages(room);
                for (var i = 0; i < 9; i++)
                {
                    // Sends went round-robin over the three nodes: message k was accepted by node k % 3.
                    Assert.Equal(fixture.Nodes[i % 3].Id, messages[i].Str("node"));
                    Assert.Equal(users[i % 3].UserId, messages[i].Str("from"));
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Concurrent_sends_to_several_rooms_through_four_store_writers_stay_gapless_and_in_order_on_a_one_writer_node()
    {
        const int rooms = 4, senders = 4, perRoom = 6;
        var users = await fixture.UsersAsync(senders + 1, "writers");
        var convs = new string[rooms];
        for (var r = 0; r < rooms; r++)
        {
            convs[r] = await fixture.RoomAsync(users);
        }

        // The senders' node commits with four writers (the default); the watcher sits on the one-writer node and sees
        // what was committed through the bus and the store; its own sends afterwards commit in its one loop.
        await using var watcher = await ClusterFixture.ConnectAsync(users[senders], fixture.Nodes[ClusterFixture.OneWriterNode]);
        var clients = new WsTestClient[senders];
        for (var s = 0; s < senders; s++)
        {
            clients[s] = await ClusterFixture.ConnectAsync(users[s], fixture.Nodes[0]);
        }

        try
        {
            // Every sender goes round the rooms, all senders at once: appends to all four rooms are in flight together.
            await Task.WhenAll(clients.Select((client, s) => Task.Run(async () =>
            {
                for (var k = 0; k < perRoom; k++)
                {
                    foreach (var conv in convs)
                    {
                        var ack = await client.SendMessageAsync(conv, $"{s}:{k}");
                        Assert.Equal("ack", ack.Op());
                    }
                }
            })));

            const int expected = senders * perRoom;
            foreach (var conv in convs)
            {
                await Eventually.TrueAsync(() => watcher.Seqs(conv).Count >= expected, Wait, () => $"{expected} messages in {conv}; got {string.Join(",", watcher.Seqs(conv))}");
                Assert.True(watcher.Seqs(conv).IsExactly1To(expected), string.Join(",", watcher.Seqs(conv)));

                // Each sender's messages keep the order it sent them in.
                var bodies = watcher.Messages(conv).Select(m => m.Str("body")!).ToList();
                for (var s = 0; s < senders; s++)
                {
                    var own = bodies.Where(b => b.StartsWith($"{s}:", StringComparison.Ordinal)).ToList();
                    Assert.Equal(Enumerable.Range(0, perRoom).Select(k => $"{s}:{k}"), own);
                }
            }

            // The one-writer node's sends continue each room's seq without a gap, and reach the senders' node.
            foreach (var conv in convs)
            {
                var ack = await watcher.SendMessageAsync(conv, "from the one-writer node");
                Assert.Equal("ack", ack.Op());
                Assert.Equal(expected + 1, ack.Long("seq"));
                await Eventually.TrueAsync(() => clients[0].Seqs(conv).Contains(expected + 1), Wait, () => $"seq {expected + 1} of {conv} on the senders' node");
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_dm_opened_on_one_node_reaches_the_peer_on_another_and_both_directions_deliver()
    {
        var (alice, bob) = await TwoAsync();
        await using var aliceWs = await ClusterFixture.ConnectAsync(alice, fixture.Nodes[0]);
        await using var bobWs = await ClusterFixture.ConnectAsync(bob, fixture.Nodes[1]);

        // Opened through node 3's REST: the conversation event must find both users' nodes through user.<id> topics.
        var dm = await fixture.Nodes[2].Api.OpenDmAsync(alice, bob.Username);
        var announced = await bobWs.WaitForAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == dm, Wait);
        Assert.Equal("dm", announced.GetProperty("conversation").Str("kind"));
        await aliceWs.WaitForAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == dm, Wait);

        Assert.Equal("ack", (await aliceWs.SendMessageAsync(dm, "hi bob")).Op());
        var atBob = await bobWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == dm, Wait);
        Assert.Equal("hi bob", atBob.Str("body"));
        Assert.Equal(fixture.Nodes[0].Id, atBob.Str("node"));

        Assert.Equal("ack", (await bobWs.SendMessageAsync(dm, "hi alice")).Op());
        var atAlice = await aliceWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == dm && f.Long("seq") == 2, Wait);
        Assert.Equal("hi alice", atAlice.Str("body"));
        Assert.Equal(fixture.Nodes[1].Id, atAlice.Str("node"));
    }

    [Fact]
    public async Task Receipts_and_typing_cross_nodes_and_typing_skips_the_typist()
    {
        var (alice, bob) = await TwoAsync();
        var room = await fixture.RoomAsync(alice, bob);
        await using var aliceWs = await ClusterFixture.ConnectAsync(alice, fixture.Nodes[0]);
        await using var bobWs = await ClusterFixture.ConnectAsync(bob, fixture.Nodes[1]);

        Assert.Equal("ack", (await aliceWs.SendMessageAsync(room, "read me")).Op());
        await bobWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room, Wait);

        await bobWs.SendAsync(new { op = "read", conv = room, seq = 1 });
        var receipt = await aliceWs.WaitForAsync(f => f.Op() == "receipt" && f.Str("conv") == room && f.Str("userId") == bob.UserId && f.Str("kind") == "read", Wait);
        Assert.Equal(1, receipt.Long("seq"));

        await aliceWs.SendAsync(new { op = "typing", conv = room });
        var typing = await bobWs.WaitForAsync(f => f.Op() == "typing" && f.Str("conv") == room, Wait);
        Assert.Equal(alice.UserId, typing.Str("userId"));
        Assert.Equal(alice.Username, typing.Str("username"));
        Assert.True(await aliceWs.NoneWithinAsync(f => f.Op() == "typing", TimeSpan.FromMilliseconds(500)), "the typist got their own typing frame");
    }

    [Fact]
    public async Task Presence_of_a_user_on_another_node_goes_online_and_offline()
    {
        var (alice, bob) = await TwoAsync();
        await fixture.Api.OpenDmAsync(alice, bob.Username);
        await using var aliceWs = await ClusterFixture.ConnectAsync(alice, fixture.Nodes[0]);

        var bobWs = await ClusterFixture.ConnectAsync(bob, fixture.Nodes[2]);
        await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == bob.UserId && f.Str("status") == "online", Wait);

        await bobWs.DisposeAsync();
        await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == bob.UserId && f.Str("status") == "offline", Wait);
    }

    [Fact]
    public async Task Member_and_conversation_events_cross_nodes_and_a_leaver_gets_nothing_more()
    {
        var users = await fixture.UsersAsync(4);
        var (owner, member, joiner, added) = (users[0], users[1], users[2], users[3]);
        var room = await fixture.RoomAsync(owner, member);
        var secret = await fixture.Api.CreateRoomAsync(owner, "secret", isPrivate: true);
        await using var ownerWs = await ClusterFixture.ConnectAsync(owner, fixture.Nodes[0]);
        await using var memberWs = await ClusterFixture.ConnectAsync(member, fixture.Nodes[1]);
        await using var joinerWs = await ClusterFixture.ConnectAsync(joiner, fixture.Nodes[2]);
        await using var addedWs = await ClusterFixture.ConnectAsync(added, fixture.Nodes[2]);

        // Joining through node 2's REST; the joiner's socket is on node 3.
        Assert.Equal(HttpStatusCode.OK, (await fixture.Nodes[1].Api.JoinAsync(joiner, room)).Status);
        await joinerWs.WaitForAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == room, Wait);
        foreach (var ws in new[] { ownerWs, memberWs })
        {
            var joined = await ws.WaitForAsync(f => f.Op() == "member" && f.Str("conv") == room && f.Str("userId") == joiner.UserId, Wait);
            Assert.Equal("joined", joined.Str("change"));
        }

        // The joiner now receives the room's messages on node 3, sent from node 1.
        Assert.Equal("ack", (await ownerWs.SendMessageAsync(room, "welcome")).Op());
        await joinerWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room && f.Str("body") == "welcome", Wait);

        // Owner (node 1) adds a user connected on node 3 to a private room.
        Assert.Equal(HttpStatusCode.OK, (await fixture.Nodes[0].Api.AddMemberAsync(owner, secret, added.Username)).Status);
        await addedWs.WaitForAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == secret, Wait);
        Assert.Equal("ack", (await ownerWs.SendMessageAsync(secret, "psst")).Op());
        await addedWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == secret && f.Str("body") == "psst", Wait);

        // Leaving through node 1's REST: everyone, the leaver included, hears "left"; then the leaver hears nothing.
        Assert.Equal(HttpStatusCode.NoContent, (await fixture.Nodes[0].Api.LeaveAsync(joiner, room)).Status);
        foreach (var ws in new[] { ownerWs, memberWs, joinerWs })
        {
            var left = await ws.WaitForAsync(f => f.Op() == "member" && f.Str("conv") == room && f.Str("userId") == joiner.UserId && f.Str("change") == "left", Wait);
            Assert.Equal("left", left.Str("change"));
        }

        Assert.Equal("ack", (await memberWs.SendMessageAsync(room, "after the leave")).Op());
        await ownerWs.WaitForAsync(f => f.Op() == "msg" && f.Str("body") == "after the leave", Wait);
        Assert.True(await joinerWs.NoneWithinAsync(f => f.Op() == "msg" && f.Str("body") == "after the leave", TimeSpan.FromSeconds(1.5)), "the leaver still received the room's messages");
    }

    private async Task<(TestUser, TestUser)> TwoAsync()
    {
        var users = await fixture.UsersAsync(2);
        return (users[0], users[1]);
    }
}
