using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>The conversations an outsider must not reach.</summary>
public enum Outside
{
    /// <summary>A private room they were never added to.</summary>
    PrivateRoom,

    /// <summary>A public room they did not join.</summary>
    PublicRoomNotJoined,

    /// <summary>A DM between two other users.</summary>
    OthersDm,

    /// <summary>A public room they left a moment ago, with sockets still open on both nodes.</summary>
    RoomJustLeft,
}

/// <summary>
/// The authorization matrix: for every REST call and every WebSocket op, a user outside a conversation gets the very
/// answer a conversation that does not exist gets (so they learn nothing, not even that it exists), changes nothing,
/// and receives no event of it on any node. Runs on one node and on two nodes sharing PostgreSQL, RabbitMQ and Redis.
/// </summary>
public abstract class AuthorizationMatrix(INodePair nodes)
{
    private const string Password = "correct horse battery";

    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(600);

    [Theory]
    [InlineData(Outside.PrivateRoom)]
    [InlineData(Outside.PublicRoomNotJoined)]
    [InlineData(Outside.OthersDm)]
    [InlineData(Outside.RoomJustLeft)]
    public async Task An_outsider_gets_the_answers_of_a_missing_conversation_and_no_event_on_any_node(Outside c)
    {
        using var apiA = new ApiClient(nodes.A.BaseUri);
        using var apiB = new ApiClient(nodes.B.BaseUri);
        var owner = await apiA.RegisterAsync("own", Password);
        var member = await apiB.RegisterAsync("mem", Password);
        var outsider = await apiA.RegisterAsync("out", Password);
        var newcomer = await apiB.RegisterAsync("new", Password);

        var conv = c switch
        {
            Outside.PrivateRoom => await apiA.CreateRoomAsync(owner, "private secret room", isPrivate: true),
            Outside.OthersDm => await apiA.OpenDmAsync(owner, member.Username),
            _ => await apiA.CreateRoomAsync(owner, "public room"),
        };
        switch (c)
        {
            case Outside.PrivateRoom:
                Assert.Equal(HttpStatusCode.OK, (await apiA.AddMemberAsync(owner, conv, member.Username)).Status);
                break;
            case Outside.PublicRoomNotJoined:
            case Outside.RoomJustLeft:
                Assert.Equal(HttpStatusCode.OK, (await apiB.JoinAsync(member, conv)).Status);
                break;
        }

        await using var ownerWs = await WsTestClient.ConnectAndHelloAsync(nodes.A.WsUri, owner.Token);
        await using var memberWs = await WsTestClient.ConnectAndHelloAsync(nodes.B.WsUri, member.Token);
        await using var outA = await WsTestClient.ConnectAndHelloAsync(nodes.A.WsUri, outsider.Token);
        await using var outB = await WsTestClient.ConnectAndHelloAsync(nodes.B.WsUri, outsider.Token);
        await ownerWs.SendMessageAsync(conv, "before anything");

        if (c == Outside.RoomJustLeft)
        {
            Assert.Equal(HttpStatusCode.OK, (await apiB.JoinAsync(outsider, conv)).Status);
            // Both of the outsider's sockets are subscribed once they receive the room's traffic.
            await ownerWs.SendMessageAsync(conv, "welcome aboard");
            await outA.SeenAsync(f => f.Op() == "msg" && f.Str("body") == "welcome aboard");
            await outB.SeenAsync(f => f.Op() == "msg" && f.Str("body") == "welcome aboard");
            Assert.Equal(HttpStatusCode.NoContent, (await apiA.LeaveAsync(outsider, conv)).Status);
            // The leaver's sockets on both nodes are told, then hear nothing more of the room.
            await outA.SeenAsync(f => f.Op() == "member" && f.Str("userId") == outsider.UserId && f.Str("change") == "left");
            await outB.SeenAsync(f => f.Op() == "member" && f.Str("userId") == outsider.UserId && f.Str("change") == "left");
        }

        var watchFromA = outA.All.Count;
        var watchFromB = outB.All.Count;
        var ghost = conv[..1] + Convert.ToHexString(RandomNumberGenerator.GetBytes(8)).ToLowerInvariant();

        // REST, on both nodes: each answer equals the answer for a conversation that does not exist.
        foreach (var api in new[] { apiA, apiB })
        {
            await SameAnswerAsync(api, outsider, HttpMethod.Get, "api/v1/conversations/{0}/messages", null, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Get, "api/v1/conversations/{0}/messages?after=0&limit=200", null, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Get, "api/v1/conversations/{0}/messages?before=1000&limit=1", null, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Post, "api/v1/conversations/{0}/messages", new { clientMsgId = "intrusion", body = "intrusion" }, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Post, "api/v1/rooms/{0}/members", new { username = outsider.Username }, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Post, "api/v1/rooms/{0}/members", new { username = newcomer.Username }, conv, ghost);
            await SameAnswerAsync(api, outsider, HttpMethod.Post, "api/v1/rooms/{0}/leave", null, conv, ghost);
            if (c is Outside.PrivateRoom or Outside.OthersDm)
            {
                // Public rooms are joinable by design; private rooms and DMs are not, and do not admit to existing.
                await SameAnswerAsync(api, outsider, HttpMethod.Post, "api/v1/rooms/{0}/join", null, conv, ghost);
            }

            var mine = await api.ConversationsAsync(outsider);
            Assert.DoesNotContain(conv, mine.Body.GetRawText(), StringComparison.Ordinal);
            var directory = await api.CallAsync(HttpMethod.Get, "api/v1/rooms", token: outsider.Token);
            Assert.Equal(c is Outside.PublicRoomNotJoined or Outside.RoomJustLeft, directory.Body.GetRawText().Contains(conv, StringComparison.Ordinal));
        }

        // WebSocket ops, on both nodes: each error frame equals the one for a missing conversation.
        foreach (var ws in new[] { outA, outB })
        {
            await SameFrameAsync(ws, new { op = "send", conv, clientMsgId = "intrusion", body = "intrusion" }, new { op = "send", conv = ghost, clientMsgId = "intrusion", body = "intrusion" }, "intrusion");
            foreach (var seq in new[] { 0L, 1L, 1_000_000_000_000_000L })
            {
                await SameFrameAsync(ws, new { op = "read", conv, seq }, new { op = "read", conv = ghost, seq }, "read");
                await SameFrameAsync(ws, new { op = "delivered", conv, seq }, new { op = "delivered", conv = ghost, seq }, "delivered");
            }

            await SameFrameAsync(ws, new { op = "typing", conv }, new { op = "typing", conv = ghost }, "typing");
        }

        foreach (var node in new[] { nodes.A, nodes.B })
        {
            var real = await ResumeErrorAsync(node, outsider, conv);
            var missing = await ResumeErrorAsync(node, outsider, ghost);
            Assert.Equal(missing.Replace(ghost, "<id>", StringComparison.Ordinal), real.Replace(conv, "<id>", StringComparison.Ordinal));
        }

        // Everything members do, from both nodes, reaches the members and not the outsider.
        await ownerWs.SendMessageAsync(conv, "secret from A");
        await memberWs.SendMessageAsync(conv, "secret from B");
        await ownerWs.SendAsync(new { op = "typing", conv });
        await memberWs.SendAsync(new { op = "read", conv, seq = 2 });
        await ownerWs.SendAsync(new { op = "delivered", conv, seq = 3 });
        if (c != Outside.OthersDm)
        {
            // A newcomer joins, comes online (presence to the room's members, across nodes), goes offline and leaves.
            var added = c == Outside.PrivateRoom ? await apiA.AddMemberAsync(owner, conv, newcomer.Username) : await apiB.JoinAsync(newcomer, conv);
            Assert.Equal(HttpStatusCode.OK, added.Status);
            await using (var visit = await WsTestClient.ConnectAndHelloAsync(nodes.A.WsUri, newcomer.Token))
            {
                await memberWs.SeenAsync(f => f.Op() == "presence" && f.Str("userId") == newcomer.UserId && f.Str("status") == "online");
            }

            await memberWs.SeenAsync(f => f.Op() == "presence" && f.Str("userId") == newcomer.UserId && f.Str("status") == "offline");
            Assert.Equal(HttpStatusCode.NoContent, (await apiB.LeaveAsync(newcomer, conv)).Status);
        }

        await memberWs.SeenAsync(f => f.Op() == "msg" && f.Str("body") == "secret from A");
        await memberWs.SeenAsync(f => f.Op() == "typing" && f.Str("conv") == conv);
        await ownerWs.SeenAsync(f => f.Op() == "msg" && f.Str("body") == "secret from B");
        await ownerWs.SeenAsync(f => f.Op() == "receipt" && f.Str("userId") == member.UserId && f.Str("kind") == "read");
        await memberWs.SeenAsync(f => f.Op() == "receipt" && f.Str("userId") == owner.UserId && f.Str("kind") == "delivered");
        if (c != Outside.OthersDm)
        {
            await memberWs.SeenAsync(f => f.Op() == "member" && f.Str("userId") == newcomer.UserId && f.Str("change") == "left");
        }

        await Task.Delay(Settle);

        var leaked = outA.All.Skip(watchFromA).Concat(outB.All.Skip(watchFromB))
            .Where(f => f.GetRawText().Contains(conv, StringComparison.Ordinal)
                || f.GetRawText().Contains("secret", StringComparison.Ordinal)
                || (f.Op() == "presence" && f.Str("userId") is { } u && (u == owner.UserId || u == member.UserId || u == newcomer.UserId)))
            .Select(f => f.GetRawText())
            .ToList();
        Assert.True(leaked.Count == 0, "frames that reached the outsider:\n" + string.Join("\n", leaked));

        // Nothing the outsider tried was stored, on either node's view of the store.
        foreach (var api in new[] { apiA, apiB })
        {
            var bodies = (await api.AllMessagesAsync(owner, conv)).Select(m => m.Str("body")).ToList();
            Assert.Equal(c == Outside.RoomJustLeft ? ["before anything", "welcome aboard", "secret from A", "secret from B"] : ["before anything", "secret from A", "secret from B"], bodies);
        }
    }

    private static async Task SameAnswerAsync(ApiClient api, TestUser caller, HttpMethod method, string path, object? body, string conv, string ghost)
    {
        var real = await api.CallAsync(method, string.Format(System.Globalization.CultureInfo.InvariantCulture, path, conv), body, caller.Token);
        var missing = await api.CallAsync(method, string.Format(System.Globalization.CultureInfo.InvariantCulture, path, ghost), body, caller.Token);
        Assert.True(real.Status is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{method} {path}: {real.Status} {real.Body}");
        Assert.Equal(missing.Status, real.Status);
        Assert.Equal(Text(missing.Body), Text(real.Body));
    }

    private static async Task SameFrameAsync(WsTestClient ws, object frame, object ghostFrame, string reference)
    {
        await ws.SendAsync(frame);
        var real = await ws.WaitForAsync(f => f.Op() == "error" && f.Str("ref") == reference);
        await ws.SendAsync(ghostFrame);
        var missing = await ws.WaitForAsync(f => f.Op() == "error" && f.Str("ref") == reference);
        Assert.Equal("not_found", real.Str("code"));
        Assert.Equal(missing.GetRawText(), real.GetRawText());
    }

    private static async Task<string> ResumeErrorAsync(SecurityNode node, TestUser user, string conv)
    {
        await using var ws = await Frames.HelloAsync(node.WsUri, user.Token, new Dictionary<string, long> { [conv] = 0 });
        var errors = ws.All.Where(f => f.Op() == "error").ToList();
        Assert.Single(errors);
        Assert.Equal("not_found", errors[0].Str("code"));
        Assert.DoesNotContain(ws.All, f => f.Op() == "msg" || f.Op() == "gap");
        return errors[0].GetRawText();
    }

    private static string Text(JsonElement body) => body.ValueKind == JsonValueKind.Undefined ? "" : body.GetRawText();
}

/// <summary>The matrix on one embedded node.</summary>
[Trait("Tier", "Security")]
public sealed class SingleNodeAuthorizationTests(SingleNode nodes) : AuthorizationMatrix(nodes), IClassFixture<SingleNode>;

/// <summary>The matrix on two nodes sharing PostgreSQL, RabbitMQ and Redis: members and outsider on both nodes.</summary>
[Trait("Tier", "Security")]
public sealed class TwoNodeAuthorizationTests(TwoNodes nodes) : AuthorizationMatrix(nodes), IClassFixture<TwoNodes>;
