using System.Net;
using System.Net.WebSockets;
using System.Text;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Bad input gets a clear error, changes nothing, and never hurts the node.</summary>
[Trait("Tier", "Server")]
public sealed class BadInputTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private ApiClient Api => node.Api;

    public static TheoryData<string, string, string?> BadFrames => new()
    {
        { "not json", "invalid", null },
        { "[1,2,3]", "invalid", null },
        { "{\"op\":\"send\"", "invalid", "send" },
        { "{\"op\":\"nope\"}", "invalid", "nope" },
        { "{}", "invalid", null },
        { "{\"op\":42}", "invalid", null },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":42}", "invalid", "c1" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":\"\"}", "invalid", "c1" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":\"nul\\u0000byte\"}", "invalid", "c1" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":\"lone \\ud800 surrogate\"}", "invalid", "c1" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"has space\",\"body\":\"x\"}", "invalid", "send" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"" + new string('a', 65) + "\",\"body\":\"x\"}", "invalid", "send" },
        { "{\"op\":\"send\",\"conv\":\"../etc\",\"clientMsgId\":\"c1\",\"body\":\"x\"}", "invalid", "c1" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":\"x\",\"body\":\"y\"}", "invalid", "c1" },
        { "{\"op\":\"read\",\"conv\":\"CONV\",\"seq\":-1}", "invalid", "read" },
        { "{\"op\":\"read\",\"conv\":\"CONV\",\"seq\":9007199254740992}", "invalid", "read" },
        { "{\"op\":\"read\",\"conv\":\"CONV\",\"seq\":1e400}", "invalid", "read" },
        { "{\"op\":\"read\",\"conv\":\"CONV\",\"seq\":1.5}", "invalid", "read" },
        { "{\"op\":\"read\",\"conv\":\"CONV\",\"seq\":\"1\"}", "invalid", "read" },
        { "{\"op\":\"delivered\",\"conv\":\"CONV\"}", "invalid", "delivered" },
        { "{\"op\":\"typing\",\"conv\":null}", "invalid", "typing" },
        { "{\"op\":\"send\",\"conv\":\"CONV\",\"clientMsgId\":\"c1\",\"body\":\"x\",\"extra\":[[[[[[[[[[1]]]]]]]]]]}", "invalid", "c1" },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task A_bad_frame_gets_an_error_stores_nothing_and_the_socket_stays_open(string frame, string code, string? reference)
    {
        var (room, users) = await node.RoomWithAsync(1);
        await using var ws = await node.HelloAsync(users[0]);
        await ws.SendRawAsync(frame.Replace("CONV", room, StringComparison.Ordinal));
        var error = await ws.WaitForOpAsync("error");
        Assert.Equal(code, error.Str("code"));

        // The frame's clientMsgId (a send's) or op, as far as it was read before the frame failed; null when neither was.
        Assert.Equal(reference, error.Str("ref"));
        Assert.False(string.IsNullOrEmpty(error.Str("message")));

        Assert.Equal("ack", (await ws.SendMessageAsync(room, "still fine")).Op());
        var stored = await Api.AllMessagesAsync(users[0], room);
        Assert.Equal(["still fine"], stored.Select(m => m.Str("body")));
    }

    [Fact]
    public async Task Bodies_over_4000_characters_are_too_large_and_4000_emoji_fit()
    {
        var (room, users) = await node.RoomWithAsync(1);
        await using var ws = await node.HelloAsync(users[0]);
        var tooLong = await ws.SendMessageAsync(room, new string('x', 4001), "big");
        Assert.Equal("too_large", tooLong.Str("code"));
        Assert.Equal("big", tooLong.Str("ref"));
        var emoji = string.Concat(Enumerable.Repeat("😀", 4000));
        Assert.Equal("ack", (await ws.SendMessageAsync(room, emoji, "emoji")).Op());
        var rest = await Api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = "rest-big", body = new string('y', 4001) }, users[0].Token);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, rest.Status);
        Assert.Equal("too_large", rest.ErrorCode);
        Assert.Single(await Api.AllMessagesAsync(users[0], room));
    }

    [Fact]
    public async Task A_frame_over_64_KiB_closes_the_socket_with_1009_and_the_node_stays_healthy()
    {
        var (room, users) = await node.RoomWithAsync(1);
        await using var ws = await node.HelloAsync(users[0]);
        var huge = "{\"op\":\"send\",\"conv\":\"" + room + "\",\"clientMsgId\":\"h\",\"body\":\"" + new string('x', 70_000) + "\"}";
        try
        {
            await ws.SendRawAsync(huge);
        }
        catch (WebSocketException)
        {
            // The server may close before the whole frame is written.
        }

        Assert.Equal(1009, await ws.WaitClosedAsync());
        Assert.Equal(HttpStatusCode.OK, (await Api.CallAsync(HttpMethod.Get, "healthz")).Status);
        Assert.Empty(await Api.AllMessagesAsync(users[0], room));
    }

    [Fact]
    public async Task A_fragmented_frame_that_never_ends_is_closed_at_the_cap()
    {
        var (_, users) = await node.RoomWithAsync(1);
        await using var ws = await node.HelloAsync(users[0]);
        var chunk = Encoding.UTF8.GetBytes(new string(' ', 8 * 1024));
        try
        {
            for (var i = 0; i < 20; i++)
            {
                await ws.SendBytesAsync(chunk, WebSocketMessageType.Text, endOfMessage: false);
            }
        }
        catch (WebSocketException)
        {
        }

        Assert.Equal(1009, await ws.WaitClosedAsync());
    }

    [Fact]
    public async Task A_binary_frame_is_refused_with_invalid()
    {
        var (_, users) = await node.RoomWithAsync(1);
        await using var ws = await node.HelloAsync(users[0]);
        await ws.SendBytesAsync([1, 2, 3], WebSocketMessageType.Binary);
        Assert.Equal("invalid", (await ws.WaitForOpAsync("error")).Str("code"));
    }

    [Theory]
    [InlineData("api/v1/auth/register", "{not json")]
    [InlineData("api/v1/auth/register", "[]")]
    [InlineData("api/v1/auth/register", "{\"username\":5,\"password\":\"x\"}")]
    [InlineData("api/v1/auth/login", "null")]
    [InlineData("api/v1/auth/register", "{\"username\":\"dupfield1\",\"password\":\"password123\",\"username\":\"dupfield2\"}")]
    [InlineData("api/v1/auth/register", "{\"username\":\"dupfield3\",\"password\":\"password123\",\"Username\":\"dupfield4\"}")]
    public async Task Malformed_rest_bodies_get_400_invalid(string path, string body)
    {
        var answer = await Api.CallAsync(HttpMethod.Post, path, rawBody: body);
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("invalid", answer.ErrorCode);
    }

    [Fact]
    public async Task An_oversize_rest_body_gets_413()
    {
        var user = await Api.RegisterAsync("size");
        var answer = await Api.CallAsync(HttpMethod.Post, "api/v1/rooms", rawBody: "{\"name\":\"" + new string('x', 100_000) + "\"}", token: user.Token);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, answer.Status);
        Assert.Equal("too_large", answer.ErrorCode);
    }

    [Fact]
    public async Task Unknown_rest_paths_and_ids_answer_not_found_as_json()
    {
        var user = await Api.RegisterAsync("paths");
        var unknown = await Api.CallAsync(HttpMethod.Get, "api/v1/nothing-here", token: user.Token);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal("not_found", unknown.ErrorCode);
        var badId = await Api.HistoryAsync(user, "bad%20id");
        Assert.Equal(HttpStatusCode.NotFound, badId.Status);
    }

    [Fact]
    public async Task Frames_before_hello_are_refused_without_effect()
    {
        var (room, users) = await node.RoomWithAsync(1);
        await using var ws = await WsTestClient.ConnectAsync(node.Server.WsUri);
        await ws.SendAsync(new { op = "send", conv = room, clientMsgId = "early", body = "x" });
        var early = await ws.WaitForOpAsync("error");
        Assert.Equal("unauthorized", early.Str("code"));
        Assert.Equal("early", early.Str("ref"));
        await ws.SendAsync(new { op = "hello", token = users[0].Token });
        await ws.WaitForOpAsync("synced");
        await ws.SendAsync(new { op = "hello", token = users[0].Token });
        Assert.Equal("invalid", (await ws.WaitForOpAsync("error")).Str("code"));
        Assert.Empty(await Api.AllMessagesAsync(users[0], room));
    }
}
