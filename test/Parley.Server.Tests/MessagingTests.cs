using System.Net;
using Parley.Testing;

namespace Parley.Server.Tests;

[Trait("Tier", "Server")]
public sealed class MessagingTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private ApiClient Api => node.Api;

    [Fact]
    public async Task A_message_reaches_every_connection_of_every_member_with_all_fields()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a1 = await node.HelloAsync(users[0]);
        await using var a2 = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);

        var ack = await a1.SendMessageAsync(room, "héllo 👋", "cid-1");
        Assert.Equal("ack", ack.Op());
        Assert.Equal(room, ack.Str("conv"));
        Assert.Equal("cid-1", ack.Str("clientMsgId"));
        Assert.Equal(1, ack.Long("seq"));
        Assert.InRange(ack.Long("ts"), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());

        foreach (var c in new[] { a1, a2, b })
        {
            var m = await c.WaitForOpAsync("msg");
            Assert.Equal(room, m.Str("conv"));
            Assert.Equal(1, m.Long("seq"));
            Assert.Equal("héllo 👋", m.Str("body"));
            Assert.Equal(users[0].UserId, m.Str("from"));
            Assert.Equal(users[0].Username, m.Str("fromName"));
            Assert.Equal("cid-1", m.Str("clientMsgId"));
            Assert.Equal(node.Server.Node.Options.NodeId, m.Str("node"));
            Assert.False(string.IsNullOrEmpty(m.Str("id")));
            Assert.Equal(ack.Long("ts"), m.Long("ts"));
        }
    }

    [Fact]
    public async Task Rest_send_stores_and_delivers_and_a_retry_answers_200_with_the_original()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var b = await node.HelloAsync(users[1]);
        var first = await Api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = "rest-1", body = "via rest" }, users[0].Token);
        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(1, first.Body.Long("seq"));
        var retry = await Api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = "rest-1", body = "via rest" }, users[0].Token);
        Assert.Equal(HttpStatusCode.OK, retry.Status);
        Assert.Equal(first.Body.Str("id"), retry.Body.Str("id"));
        Assert.Equal("via rest", (await b.WaitForOpAsync("msg")).Str("body"));
        Assert.Single(await Api.AllMessagesAsync(users[0], room));
    }

    [Fact]
    public async Task History_pages_backwards_and_forwards()
    {
        var (room, users) = await node.RoomWithAsync(1);
        await using var a = await node.HelloAsync(users[0]);
        for (var i = 1; i <= 12; i++)
        {
            await a.SendMessageAsync(room, "m" + i);
        }

        var newest = await Api.HistoryAsync(users[0], room, "?limit=5");
        Assert.Equal([8L, 9, 10, 11, 12], newest.Body.GetProperty("messages").EnumerateArray().Select(m => m.Long("seq")));
        Assert.True(newest.Body.GetProperty("hasMore").GetBoolean());

        var older = await Api.HistoryAsync(users[0], room, "?before=8&limit=5");
        Assert.Equal([3L, 4, 5, 6, 7], older.Body.GetProperty("messages").EnumerateArray().Select(m => m.Long("seq")));
        Assert.True(older.Body.GetProperty("hasMore").GetBoolean());
        var oldest = await Api.HistoryAsync(users[0], room, "?before=3&limit=5");
        Assert.Equal([1L, 2], oldest.Body.GetProperty("messages").EnumerateArray().Select(m => m.Long("seq")));
        Assert.False(oldest.Body.GetProperty("hasMore").GetBoolean());

        var after = await Api.HistoryAsync(users[0], room, "?after=9");
        Assert.Equal([10L, 11, 12], after.Body.GetProperty("messages").EnumerateArray().Select(m => m.Long("seq")));
        Assert.False(after.Body.GetProperty("hasMore").GetBoolean());
        var defaults = await Api.HistoryAsync(users[0], room);
        Assert.Equal(12, defaults.Body.GetProperty("messages").GetArrayLength());

        foreach (var bad in new[] { "?limit=0", "?limit=201", "?limit=4294967346", "?limit=2147483648", "?after=-1", "?before=abc", "?after=9007199254740992" })
        {
            var answer = await Api.HistoryAsync(users[0], room, bad);
            Assert.True(answer.Status == HttpStatusCode.BadRequest, bad);
            Assert.Equal("invalid", answer.ErrorCode);
        }
    }

    [Fact]
    public async Task Delivered_and_read_receipts_reach_members_and_never_go_down()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);
        await a.SendMessageAsync(room, "one");
        await a.SendMessageAsync(room, "two");

        await b.SendAsync(new { op = "delivered", conv = room, seq = 2 });
        var delivered = await a.WaitForAsync(f => f.Op() == "receipt" && f.Str("kind") == "delivered");
        Assert.Equal(users[1].UserId, delivered.Str("userId"));
        Assert.Equal(2, delivered.Long("seq"));

        await b.SendAsync(new { op = "delivered", conv = room, seq = 1 });
        await b.SendAsync(new { op = "read", conv = room, seq = 1 });
        var read = await a.WaitForAsync(f => f.Op() == "receipt" && f.Str("kind") == "read");
        Assert.Equal(1, read.Long("seq"));
        Assert.True(await a.NoneWithinAsync(f => f.Op() == "receipt" && f.Str("kind") == "delivered" && f.Long("seq") == 1, TimeSpan.FromMilliseconds(300)));

        await b.SendAsync(new { op = "read", conv = room, seq = 3 });
        var refused = await b.WaitForOpAsync("error");
        Assert.Equal("invalid", refused.Str("code"));
        Assert.Equal("read", refused.Str("ref"));
    }

    [Fact]
    public async Task Typing_reaches_the_other_members_only()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);
        await a.SendAsync(new { op = "typing", conv = room });
        var typing = await b.WaitForOpAsync("typing");
        Assert.Equal(room, typing.Str("conv"));
        Assert.Equal(users[0].UserId, typing.Str("userId"));
        Assert.Equal(users[0].Username, typing.Str("username"));
        Assert.True(await a.NoneWithinAsync(f => f.Op() == "typing", TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_flood_of_typing_reaches_the_others_once_per_second_not_once_per_frame()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);
        for (var i = 0; i < 30; i++)
        {
            await a.SendAsync(new { op = "typing", conv = room });
        }

        await b.WaitForOpAsync("typing");
        Assert.True(await b.NoneWithinAsync(f => f.Op() == "typing", TimeSpan.FromMilliseconds(500)), "more than one typing frame of the flood was passed on");

        // Typing still comes through once the interval has passed.
        await Task.Delay(TimeSpan.FromSeconds(1));
        await a.SendAsync(new { op = "typing", conv = room });
        Assert.Equal(users[0].UserId, (await b.WaitForOpAsync("typing")).Str("userId"));

        // A message ends the typing line on the members' screens, so the next keystroke is passed on at once.
        await a.SendMessageAsync(room, "done typing");
        await a.SendAsync(new { op = "typing", conv = room });
        Assert.Equal(users[0].UserId, (await b.WaitForOpAsync("typing", TimeSpan.FromMilliseconds(800))).Str("userId"));
    }

    [Fact]
    public async Task Presence_goes_online_on_the_first_connection_and_offline_after_the_last()
    {
        var a = await Api.RegisterAsync("pa");
        var b = await Api.RegisterAsync("pb");
        await Api.OpenDmAsync(a, b.Username);
        await using var alice = await node.HelloAsync(a);

        var bob1 = await node.HelloAsync(b);
        var online = await alice.WaitForOpAsync("presence");
        Assert.Equal(b.UserId, online.Str("userId"));
        Assert.Equal("online", online.Str("status"));

        var bob2 = await node.HelloAsync(b);
        await bob1.DisposeAsync();
        Assert.True(await alice.NoneWithinAsync(f => f.Op() == "presence", TimeSpan.FromMilliseconds(400)));
        await bob2.DisposeAsync();
        var offline = await alice.WaitForOpAsync("presence");
        Assert.Equal("offline", offline.Str("status"));
    }

    [Fact]
    public async Task Joining_sends_member_to_members_and_conversation_to_the_joiner()
    {
        var owner = await Api.RegisterAsync("own");
        var joiner = await Api.RegisterAsync("join");
        var room = await Api.CreateRoomAsync(owner, "events");
        await using var o = await node.HelloAsync(owner);
        await using var j = await node.HelloAsync(joiner);
        await Api.JoinAsync(joiner, room);

        var member = await o.WaitForOpAsync("member");
        Assert.Equal("joined", member.Str("change"));
        Assert.Equal(joiner.UserId, member.Str("userId"));
        Assert.Equal(joiner.Username, member.Str("username"));
        var conversation = await j.WaitForOpAsync("conversation");
        Assert.Equal(room, conversation.GetProperty("conversation").Str("id"));

        // The joiner now receives the room's messages live.
        await o.SendMessageAsync(room, "welcome");
        Assert.Equal("welcome", (await j.WaitForOpAsync("msg")).Str("body"));
    }

    [Fact]
    public async Task A_new_dm_is_announced_to_both_users()
    {
        var a = await Api.RegisterAsync("na");
        var b = await Api.RegisterAsync("nb");
        await using var alice = await node.HelloAsync(a);
        await using var bob = await node.HelloAsync(b);
        var dm = await Api.OpenDmAsync(a, b.Username);
        var atAlice = await alice.WaitForOpAsync("conversation");
        var atBob = await bob.WaitForOpAsync("conversation");
        Assert.Equal(dm, atAlice.GetProperty("conversation").Str("id"));
        Assert.Equal(a.UserId, atBob.GetProperty("conversation").GetProperty("peer").Str("userId"));
        await bob.SendMessageAsync(dm, "hi alice");
        Assert.Equal("hi alice", (await alice.WaitForOpAsync("msg")).Str("body"));
    }

    [Fact]
    public async Task The_owner_adding_a_member_announces_the_room_to_them()
    {
        var owner = await Api.RegisterAsync("ow");
        var added = await Api.RegisterAsync("ad");
        var room = await Api.CreateRoomAsync(owner, "private", isPrivate: true);
        await using var ws = await node.HelloAsync(added);
        Assert.Equal(HttpStatusCode.OK, (await Api.AddMemberAsync(owner, room, added.Username)).Status);
        var conversation = await ws.WaitForOpAsync("conversation");
        Assert.Equal(room, conversation.GetProperty("conversation").Str("id"));
        Assert.True(conversation.GetProperty("conversation").GetProperty("private").GetBoolean());
    }

    [Fact]
    public async Task Ping_is_answered_with_pong_echoing_t()
    {
        var u = await Api.RegisterAsync("ping");
        await using var ws = await node.HelloAsync(u);
        await ws.SendRawAsync("""{"op":"ping","t":12345}""");
        Assert.Equal(12345, (await ws.WaitForOpAsync("pong")).Long("t"));
        await ws.SendRawAsync("""{"op":"ping"}""");
        Assert.False((await ws.WaitForOpAsync("pong")).TryGetProperty("t", out _));
    }
}
