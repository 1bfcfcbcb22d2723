using System.Net;
using System.Text.Json;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Nobody reads or writes a conversation they are not a member of, by any path, and no event leaks.</summary>
[Trait("Tier", "Server")]
public sealed class AuthorizationTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private ApiClient Api => node.Api;

    public enum Case
    {
        PrivateRoom,
        PublicRoomNotJoined,
        OthersDm,
        RoomJustLeft,
    }

    /// <summary>Sets up a conversation the returned outsider must not reach, with a member who can.</summary>
    private async Task<(string Conv, TestUser Member, TestUser Outsider)> SetUpAsync(Case c)
    {
        var member = await Api.RegisterAsync("mem");
        var outsider = await Api.RegisterAsync("out");
        switch (c)
        {
            case Case.PrivateRoom:
                return (await Api.CreateRoomAsync(member, "private", isPrivate: true), member, outsider);
            case Case.PublicRoomNotJoined:
                return (await Api.CreateRoomAsync(member, "public"), member, outsider);
            case Case.OthersDm:
                var peer = await Api.RegisterAsync("peer");
                return (await Api.OpenDmAsync(member, peer.Username), member, outsider);
            default:
                var room = await Api.CreateRoomAsync(member, "left");
                await Api.JoinAsync(outsider, room);
                Assert.Equal(HttpStatusCode.NoContent, (await Api.LeaveAsync(outsider, room)).Status);
                return (room, member, outsider);
        }
    }

    [Theory]
    [InlineData(Case.PrivateRoom)]
    [InlineData(Case.PublicRoomNotJoined)]
    [InlineData(Case.OthersDm)]
    [InlineData(Case.RoomJustLeft)]
    public async Task Rest_history_and_send_answer_not_found_and_store_nothing(Case c)
    {
        var (conv, member, outsider) = await SetUpAsync(c);
        var history = await Api.HistoryAsync(outsider, conv);
        Assert.Equal(HttpStatusCode.NotFound, history.Status);
        Assert.Equal("not_found", history.ErrorCode);
        var send = await Api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{conv}/messages", new { clientMsgId = "x", body = "intrusion" }, outsider.Token);
        Assert.Equal(HttpStatusCode.NotFound, send.Status);
        Assert.Empty(await Api.AllMessagesAsync(member, conv));
        var list = await Api.ConversationsAsync(outsider);
        Assert.DoesNotContain(list.Body.EnumerateArray(), v => v.Str("id") == conv);
    }

    [Theory]
    [InlineData(Case.PrivateRoom)]
    [InlineData(Case.PublicRoomNotJoined)]
    [InlineData(Case.OthersDm)]
    [InlineData(Case.RoomJustLeft)]
    public async Task Websocket_send_read_delivered_typing_and_resume_answer_not_found_and_leak_nothing(Case c)
    {
        var (conv, member, outsider) = await SetUpAsync(c);
        await using var inside = await node.HelloAsync(member);
        await inside.SendMessageAsync(conv, "secret");

        await using var ws = await node.HelloAsync(outsider, resume: new Dictionary<string, long> { [conv] = 0 });
        var resumeError = ws.All.Single(f => f.Op() == "error");
        Assert.Equal("not_found", resumeError.Str("code"));
        Assert.Equal("hello", resumeError.Str("ref"));
        Assert.DoesNotContain(ws.All, f => f.Op() == "msg");

        var send = await ws.SendMessageAsync(conv, "intrusion", "intr-1");
        Assert.Equal("error", send.Op());
        Assert.Equal("not_found", send.Str("code"));
        foreach (var op in new[] { "read", "delivered" })
        {
            await ws.SendAsync(new { op, conv, seq = 1 });
            var error = await ws.WaitForAsync(f => f.Op() == "error" && f.Str("ref") == op);
            Assert.Equal("not_found", error.Str("code"));
        }

        await ws.SendAsync(new { op = "typing", conv });
        Assert.Equal("not_found", (await ws.WaitForAsync(f => f.Op() == "error" && f.Str("ref") == "typing")).Str("code"));

        // Activity inside reaches the outsider by no path.
        await inside.SendMessageAsync(conv, "more secrets");
        await inside.SendAsync(new { op = "typing", conv });
        await inside.SendAsync(new { op = "read", conv, seq = 2 });
        Assert.True(await ws.NoneWithinAsync(f => f.Str("conv") == conv, TimeSpan.FromMilliseconds(500)));
        Assert.Equal(2, (await Api.AllMessagesAsync(member, conv)).Count);
        Assert.DoesNotContain(ws.All, f => f.GetRawText().Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_user_without_a_shared_conversation_sees_no_presence()
    {
        var a = await Api.RegisterAsync("lone");
        var b = await Api.RegisterAsync("other");
        await using var alice = await node.HelloAsync(a);
        await using (var bob = await node.HelloAsync(b))
        {
        }

        Assert.True(await alice.NoneWithinAsync(f => f.Op() == "presence", TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task No_answer_or_frame_carries_a_password_hash_or_another_users_token()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        await using var b = await node.HelloAsync(users[1]);
        await a.SendMessageAsync(room, "hi");
        await b.WaitForOpAsync("msg");
        var answers = new List<JsonElement>
        {
            (await Api.ConversationsAsync(users[0])).Body,
            (await Api.HistoryAsync(users[0], room)).Body,
            (await Api.CallAsync(HttpMethod.Get, "api/v1/rooms", token: users[0].Token)).Body,
            (await Api.CallAsync(HttpMethod.Get, "api/v1/stats")).Body,
        };
        var everything = string.Join("\n", answers.Select(x => x.GetRawText()).Concat(a.All.Concat(b.All).Select(f => f.GetRawText())));
        Assert.DoesNotContain("pbkdf2", everything, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(users[0].Token, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(users[1].Token, everything, StringComparison.Ordinal);
        Assert.DoesNotContain("password", everything, StringComparison.OrdinalIgnoreCase);
    }
}
