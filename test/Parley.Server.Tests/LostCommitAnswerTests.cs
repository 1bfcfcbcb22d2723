using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A commit whose answer is lost: the store committed the message, then failed before saying so (a database killed
/// between its commit and its reply). The sender is told `unavailable` and retries with the same clientMsgId; the
/// retry finds the message stored and must also be what tells the members, since nobody announced it the first time.
/// </summary>
[Trait("Tier", "Server")]
public sealed class LostCommitAnswerTests
{
    [Fact]
    public async Task The_retry_of_a_send_whose_commit_answer_was_lost_delivers_it_to_the_members()
    {
        var sqlite = EmbeddedNode.NewStore("lost-answer");
        var (store, answers) = StoreInterceptor.Wrap<AppendAnswerLoss>(sqlite);
        // No head checks: the only way the members can hear of the message is the send path itself.
        await using var node = await EmbeddedNode.StartAsync(store, new ParleyOptions { HeadCheckIntervalMs = 600_000 });
        var alice = await StoreUsers.CreateAsync(node.Store, "alice");
        var bob = await StoreUsers.CreateAsync(node.Store, "bob");
        var room = await node.Chat.CreateRoomAsync(alice, "lost-answer", isPrivate: false);
        await node.Chat.AddMemberAsync(alice, room.Id, bob.Username);
        var bobLog = new RecordingSink();
        await node.Hub.AttachAsync(node.Hub.CreateSession(bob.UserId, bob.Username, bobLog), null, CancellationToken.None);
        await bobLog.WaitForSyncedAsync();

        answers.Lose(1);
        var refused = await Assert.ThrowsAsync<ParleyException>(() => node.Chat.SendAsync(alice, room.Id, "k1", "hello"));
        Assert.Equal(ErrorCodes.Unavailable, refused.Code);
        var stored = await node.Store.ReadMessagesAsync(room.Id, new HistoryQuery(0, null, 10), CancellationToken.None);
        Assert.Equal("hello", Assert.Single(stored.Messages).Body); // committed, though the sender was told otherwise

        var (message, duplicate) = await node.Chat.SendAsync(alice, room.Id, "k1", "hello");
        Assert.True(duplicate);
        Assert.Equal(1, message.Seq);
        await bobLog.WaitForAsync(room.Id, 1);
        Assert.Equal([1L], bobLog.Seqs(room.Id));
    }
}
