using System.Net;
using System.Text.Json;
using Parley.Testing;

namespace Parley.Server.Tests;

[Trait("Tier", "Server")]
public sealed class ConversationTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private ApiClient Api => node.Api;

    [Fact]
    public async Task Creating_a_room_makes_the_caller_owner_and_member()
    {
        var owner = await Api.RegisterAsync("owner");
        var answer = await Api.CallAsync(HttpMethod.Post, "api/v1/rooms", new { name = "  Design review  " }, owner.Token);
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        Assert.Equal("room", answer.Body.Str("kind"));
        Assert.Equal("Design review", answer.Body.Str("name"));
        Assert.False(answer.Body.GetProperty("private").GetBoolean());
        Assert.Equal(1, answer.Body.GetProperty("memberCount").GetInt32());
        Assert.Equal(0, answer.Body.Long("lastSeq"));
        Assert.Equal(0, answer.Body.Long("unread"));

        var mine = await Api.ConversationsAsync(owner);
        Assert.Contains(mine.Body.EnumerateArray(), c => c.Str("id") == answer.Body.Str("id"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("bell\u0007")]
    [InlineData("a very long room name that goes well past the sixty four character limit for names")]
    public async Task Invalid_room_names_are_refused(string name)
    {
        var owner = await Api.RegisterAsync("names");
        var answer = await Api.CallAsync(HttpMethod.Post, "api/v1/rooms", new { name }, owner.Token);
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("invalid", answer.ErrorCode);
    }

    [Fact]
    public async Task Room_names_are_measured_in_characters_so_64_emoji_fit_and_65_do_not()
    {
        var owner = await Api.RegisterAsync("emojiname");
        var fits = string.Concat(Enumerable.Repeat("🎉", 64));
        var created = await Api.CallAsync(HttpMethod.Post, "api/v1/rooms", new { name = fits }, owner.Token);
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal(fits, created.Body.Str("name"));

        var over = await Api.CallAsync(HttpMethod.Post, "api/v1/rooms", new { name = fits + "🎉" }, owner.Token);
        Assert.Equal(HttpStatusCode.BadRequest, over.Status);
        Assert.Equal("invalid", over.ErrorCode);
    }

    [Fact]
    public async Task Public_rooms_are_listed_and_joinable_private_ones_are_neither()
    {
        var owner = await Api.RegisterAsync("dir");
        var guest = await Api.RegisterAsync("guest");
        var open = await Api.CreateRoomAsync(owner, "open room");
        var closed = await Api.CreateRoomAsync(owner, "secret room", isPrivate: true);

        var list = await Api.CallAsync(HttpMethod.Get, "api/v1/rooms", token: guest.Token);
        Assert.Contains(list.Body.EnumerateArray(), r => r.Str("id") == open && r.GetProperty("memberCount").GetInt32() == 1);
        Assert.DoesNotContain(list.Body.EnumerateArray(), r => r.Str("id") == closed);

        var joined = await Api.JoinAsync(guest, open);
        Assert.Equal(HttpStatusCode.OK, joined.Status);
        Assert.Equal(2, joined.Body.GetProperty("memberCount").GetInt32());
        var refused = await Api.JoinAsync(guest, closed);
        Assert.Equal(HttpStatusCode.NotFound, refused.Status);
        Assert.Equal("not_found", refused.ErrorCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.JoinAsync(guest, "no-such-room")).Status);
    }

    [Fact]
    public async Task Only_the_owner_adds_members_others_get_403_and_outsiders_404()
    {
        var (room, users) = await node.RoomWithAsync(2, isPrivate: true);
        var (owner, member) = (users[0], users[1]);
        var newcomer = await Api.RegisterAsync("new");
        var outsider = await Api.RegisterAsync("out");

        Assert.Equal(HttpStatusCode.Forbidden, (await Api.AddMemberAsync(member, room, newcomer.Username)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.AddMemberAsync(outsider, room, newcomer.Username)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.AddMemberAsync(owner, room, "nosuchuser" + Guid.NewGuid().ToString("N")[..6])).Status);
        var added = await Api.AddMemberAsync(owner, room, newcomer.Username.ToUpperInvariant());
        Assert.Equal(HttpStatusCode.OK, added.Status);
        var theirs = await Api.ConversationsAsync(newcomer);
        Assert.Contains(theirs.Body.EnumerateArray(), c => c.Str("id") == room && c.GetProperty("private").GetBoolean());
    }

    [Fact]
    public async Task A_dm_has_one_id_from_either_side_and_shows_the_peer()
    {
        var a = await Api.RegisterAsync("dma");
        var b = await Api.RegisterAsync("dmb");
        var fromA = await Api.CallAsync(HttpMethod.Post, "api/v1/dms", new { username = b.Username }, a.Token);
        var fromB = await Api.CallAsync(HttpMethod.Post, "api/v1/dms", new { username = a.Username }, b.Token);
        Assert.Equal(HttpStatusCode.OK, fromA.Status);
        Assert.Equal(fromA.Body.Str("id"), fromB.Body.Str("id"));
        Assert.Equal("dm", fromA.Body.Str("kind"));
        Assert.Equal(b.UserId, fromA.Body.GetProperty("peer").Str("userId"));
        Assert.Equal(b.Username, fromA.Body.GetProperty("peer").Str("username"));
        Assert.Equal(a.UserId, fromB.Body.GetProperty("peer").Str("userId"));
        Assert.Equal(2, fromA.Body.GetProperty("memberCount").GetInt32());

        Assert.Equal(HttpStatusCode.BadRequest, (await Api.CallAsync(HttpMethod.Post, "api/v1/dms", new { username = a.Username }, a.Token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.CallAsync(HttpMethod.Post, "api/v1/dms", new { username = "ghost" + Guid.NewGuid().ToString("N")[..6] }, a.Token)).Status);
    }

    [Fact]
    public async Task Dm_peer_online_follows_presence()
    {
        var a = await Api.RegisterAsync("pa");
        var b = await Api.RegisterAsync("pb");
        await Api.OpenDmAsync(a, b.Username);
        var before = await Api.ConversationsAsync(a);
        Assert.False(before.Body.EnumerateArray().Single().GetProperty("peer").GetProperty("online").GetBoolean());
        await using var bob = await node.HelloAsync(b);
        // Presence hears of a connection just after its hello is answered: the list may trail the hello briefly.
        await Eventually.TrueAsync(
            async () => (await Api.ConversationsAsync(a)).Body.EnumerateArray().Single().GetProperty("peer").GetProperty("online").GetBoolean(),
            TimeSpan.FromSeconds(5),
            "the dm's peer listed online");
    }

    [Fact]
    public async Task Unread_counts_follow_messages_and_the_read_watermark()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ack", (await a.SendMessageAsync(room, "m" + i)).Op());
        }

        var view = (await Api.ConversationsAsync(users[1])).Body.EnumerateArray().Single(c => c.Str("id") == room);
        Assert.Equal(3, view.Long("lastSeq"));
        Assert.Equal(3, view.Long("unread"));
        Assert.Equal(0, view.Long("readSeq"));

        await using var b = await node.HelloAsync(users[1]);
        await b.SendAsync(new { op = "read", conv = room, seq = 2 });
        await a.WaitForAsync(f => f.Op() == "receipt" && f.Str("kind") == "read" && f.Long("seq") == 2);
        view = (await Api.ConversationsAsync(users[1])).Body.EnumerateArray().Single(c => c.Str("id") == room);
        Assert.Equal(1, view.Long("unread"));
        Assert.Equal(2, view.Long("readSeq"));
        Assert.Equal(2, view.Long("deliveredSeq"));
    }

    [Fact]
    public async Task A_new_member_gets_the_conversation_then_their_own_joined_and_the_members_hear_it_once()
    {
        var (room, users) = await node.RoomWithAsync(1);
        var (owner, joiner, added) = (users[0], await Api.RegisterAsync("joiner"), await Api.RegisterAsync("added"));
        await using var ownerWs = await node.HelloAsync(owner);
        await using var joinerWs = await node.HelloAsync(joiner);
        await using var addedWs = await node.HelloAsync(added);

        Assert.Equal(HttpStatusCode.OK, (await Api.JoinAsync(joiner, room)).Status);
        Assert.Equal(HttpStatusCode.OK, (await Api.AddMemberAsync(owner, room, added.Username)).Status);

        bool Joined(JsonElement f, TestUser who) => f.Op() == "member" && f.Str("conv") == room && f.Str("userId") == who.UserId && f.Str("change") == "joined";
        foreach (var (ws, who) in new[] { (joinerWs, joiner), (addedWs, added) })
        {
            await ws.WaitForAsync(f => Joined(f, who));
            var ops = ws.All.Where(f => f.Str("conv") == room || (f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == room)).Select(f => f.Op()).ToList();
            Assert.Equal(["conversation", "member"], ops.Take(2));
            Assert.Single(ws.All, f => Joined(f, who));
        }

        await ownerWs.WaitForAsync(f => Joined(f, added));
        await ownerWs.SendMessageAsync(room, "welcome both");
        await joinerWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room);
        await addedWs.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room);
        Assert.Single(ownerWs.All, f => Joined(f, joiner));
        Assert.Single(ownerWs.All, f => Joined(f, added));
        Assert.Single(joinerWs.All, f => Joined(f, added));
    }

    [Fact]
    public async Task Leaving_stops_everything_of_that_room_reaching_the_leaver()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);

        Assert.Equal(HttpStatusCode.NoContent, (await Api.LeaveAsync(users[1], room)).Status);
        var left = await b.WaitForAsync(f => f.Op() == "member" && f.Str("change") == "left");
        Assert.Equal(users[1].UserId, left.Str("userId"));
        await a.WaitForAsync(f => f.Op() == "member" && f.Str("change") == "left" && f.Str("userId") == users[1].UserId);

        await a.SendMessageAsync(room, "after you left");
        await a.SendAsync(new { op = "typing", conv = room });
        Assert.True(await b.NoneWithinAsync(f => f.Str("conv") == room && f.Op() != "member", TimeSpan.FromSeconds(1)));
        Assert.Equal(HttpStatusCode.NotFound, (await Api.HistoryAsync(users[1], room)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.LeaveAsync(users[1], room)).Status);
    }

    [Fact]
    public async Task A_member_of_many_rooms_gets_each_rooms_messages_and_none_after_leaving_one()
    {
        // More rooms than a session's small conversation set holds inline, joined while connected and at hello.
        var owner = await Api.RegisterAsync("many");
        var member = await Api.RegisterAsync("manym");
        var rooms = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            rooms.Add(await Api.CreateRoomAsync(owner, $"many {i}"));
            if (i < 10)
            {
                Assert.Equal(HttpStatusCode.OK, (await Api.JoinAsync(member, rooms[i])).Status);
            }
        }

        await using var o = await node.HelloAsync(owner);
        await using var m = await node.HelloAsync(member);
        for (var i = 10; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await Api.JoinAsync(member, rooms[i])).Status);
            await m.WaitForAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == rooms[i]);
        }

        foreach (var room in rooms)
        {
            await o.SendMessageAsync(room, "to " + room);
            await m.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == room && f.Str("body") == "to " + room);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await Api.LeaveAsync(member, rooms[3])).Status);
        await m.WaitForAsync(f => f.Op() == "member" && f.Str("change") == "left" && f.Str("conv") == rooms[3]);
        await o.SendMessageAsync(rooms[3], "after leaving");
        await o.SendMessageAsync(rooms[17], "still here");
        await m.WaitForAsync(f => f.Op() == "msg" && f.Str("conv") == rooms[17] && f.Str("body") == "still here");
        Assert.True(await m.NoneWithinAsync(f => f.Op() == "msg" && f.Str("conv") == rooms[3], TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Stats_count_online_users_and_connections_without_auth()
    {
        var u = await Api.RegisterAsync("stats");
        await using var c1 = await node.HelloAsync(u);
        await using var c2 = await node.HelloAsync(u);
        // Presence hears of a connection just after its hello is answered: the counts may trail the hello briefly.
        ApiAnswer? answer = null;
        await Eventually.TrueAsync(
            async () =>
            {
                answer = await Api.CallAsync(HttpMethod.Get, "api/v1/stats");
                return answer.Status == HttpStatusCode.OK && answer.Body.GetProperty("connections").GetInt32() >= 2;
            },
            TimeSpan.FromSeconds(5),
            "stats counting both connections");
        var stats = answer!;
        Assert.Equal(HttpStatusCode.OK, stats.Status);
        Assert.True(stats.Body.GetProperty("onlineUsers").GetInt32() >= 1);
        Assert.True(stats.Body.GetProperty("connections").GetInt32() >= 2);
        Assert.Equal(node.Server.Node.Options.NodeId, stats.Body.Str("node"));
        Assert.Contains(stats.Body.GetProperty("nodes").EnumerateArray(), n => n.Str("id") == node.Server.Node.Options.NodeId);
    }

    [Fact]
    public async Task Health_and_readiness_answer_200()
    {
        Assert.Equal(HttpStatusCode.OK, (await Api.CallAsync(HttpMethod.Get, "healthz")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Api.CallAsync(HttpMethod.Get, "readyz")).Status);
    }
}
