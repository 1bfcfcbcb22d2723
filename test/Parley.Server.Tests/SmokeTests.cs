using System.Net;
using Parley.Testing;

namespace Parley.Server.Tests;

[Trait("Tier", "Server")]
public sealed class SmokeTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    [Fact]
    public async Task Two_users_chat_in_a_room()
    {
        var alice = await node.Api.RegisterAsync("alice");
        var bob = await node.Api.RegisterAsync("bob");
        var room = await node.Api.CreateRoomAsync(alice, "general");
        Assert.Equal(HttpStatusCode.OK, (await node.Api.JoinAsync(bob, room)).Status);

        await using var a = await node.HelloAsync(alice);
        await using var b = await node.HelloAsync(bob);
        var ack = await a.SendMessageAsync(room, "hello bob");
        Assert.Equal("ack", ack.Op());
        Assert.Equal(1, ack.Long("seq"));

        var atBob = await b.WaitForOpAsync("msg");
        Assert.Equal("hello bob", atBob.Str("body"));
        Assert.Equal(alice.UserId, atBob.Str("from"));
        var atAlice = await a.WaitForOpAsync("msg");
        Assert.Equal(1, atAlice.Long("seq"));
    }
}
