using Parley.Delivery;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// Where a disconnect's "offline" goes. Without membership changes since hello it goes to the conversations that heard
/// the "online", with no store read (a reconnect storm's disconnects would each make one); after a conversation was
/// gained or left, the store says who shares one with the user now.
/// </summary>
[Trait("Tier", "Server")]
public sealed class PresenceAudienceTests
{
    [Fact]
    public async Task A_disconnect_tells_the_conversations_of_its_hello_without_a_store_read()
    {
        await using var t = await Setup.CreateAsync();
        var room = await t.Node.Chat.CreateRoomAsync(t.Alice, "audience", isPrivate: false);
        await t.Node.Chat.AddMemberAsync(t.Alice, room.Id, t.Bob.Username);

        var bob = await t.AttachAsync(t.Bob);
        var (alice, _) = await t.AttachWithSessionAsync(t.Alice);
        await bob.WaitForPresenceAsync(t.Alice.UserId, "online");

        t.Reads.Reset();
        await t.Node.Hub.DetachAsync(alice);
        await bob.WaitForPresenceAsync(t.Alice.UserId, "offline");

        Assert.Equal(0, t.Reads.Count);
    }

    [Fact]
    public async Task After_gaining_a_conversation_a_disconnect_tells_it_too()
    {
        await using var t = await Setup.CreateAsync();
        var (alice, aliceLog) = await t.AttachWithSessionAsync(t.Alice);
        var carol = await t.AttachAsync(t.Carol);

        // A dm opened after Alice's hello: her "online" never went there, her "offline" must.
        var dm = await t.Node.Chat.OpenDmAsync(t.Alice, t.Carol.Username);
        await t.Node.Chat.SendAsync(t.Carol, dm.Id, "k1", "hello");
        await aliceLog.WaitForAsync(f => f.GetProperty("op").GetString() == "msg");
        await carol.WaitForAsync(f => f.GetProperty("op").GetString() == "msg");

        t.Reads.Reset();
        await t.Node.Hub.DetachAsync(alice);
        await carol.WaitForPresenceAsync(t.Alice.UserId, "offline");

        Assert.True(t.Reads.Count >= 1, "the store says who shares a conversation with Alice now");
    }

    [Fact]
    public async Task After_leaving_a_room_a_disconnect_no_longer_tells_it()
    {
        await using var t = await Setup.CreateAsync();
        var room = await t.Node.Chat.CreateRoomAsync(t.Bob, "left", isPrivate: false);
        await t.Node.Chat.AddMemberAsync(t.Bob, room.Id, t.Alice.Username);
        await t.Node.Chat.OpenDmAsync(t.Alice, t.Carol.Username);

        var bob = await t.AttachAsync(t.Bob);
        var carol = await t.AttachAsync(t.Carol);
        var (alice, aliceLog) = await t.AttachWithSessionAsync(t.Alice);
        await bob.WaitForPresenceAsync(t.Alice.UserId, "online");
        await carol.WaitForPresenceAsync(t.Alice.UserId, "online");

        // The leaver gets the "left" news too, after the hub has noted the change.
        await t.Node.Chat.LeaveAsync(t.Alice, room.Id);
        await aliceLog.WaitForAsync(f => f.GetProperty("op").GetString() == "member" && f.GetProperty("change").GetString() == "left");

        await t.Node.Hub.DetachAsync(alice);
        await carol.WaitForPresenceAsync(t.Alice.UserId, "offline");
        await Task.Delay(300);

        Assert.False(bob.HasPresence(t.Alice.UserId, "offline"), "Bob no longer shares a conversation with Alice");
    }

    private sealed class Setup : IAsyncDisposable
    {
        public ParleyNode Node { get; private set; } = null!;

        public CallCounter Reads { get; private set; } = null!;

        public UserRef Alice { get; private set; } = null!;

        public UserRef Bob { get; private set; } = null!;

        public UserRef Carol { get; private set; } = null!;

        public static async Task<Setup> CreateAsync()
        {
            var t = new Setup();
            var sqlite = EmbeddedNode.NewStore("audience");
            var (store, reads) = StoreInterceptor.Wrap<CallCounter>(sqlite);
            reads.Method = nameof(IChatStore.ListPresenceConversationsAsync);
            t.Reads = reads;
            t.Node = await EmbeddedNode.StartAsync(store, new ParleyOptions { HeadCheckIntervalMs = 600_000, PresenceOfflineGraceMs = 0 });
            t.Alice = await StoreUsers.CreateAsync(t.Node.Store, "alice");
            t.Bob = await StoreUsers.CreateAsync(t.Node.Store, "bob");
            t.Carol = await StoreUsers.CreateAsync(t.Node.Store, "carol");
            return t;
        }

        public async Task<RecordingSink> AttachAsync(UserRef user) => (await AttachWithSessionAsync(user)).Log;

        public Task<(Session Session, RecordingSink Log)> AttachWithSessionAsync(UserRef user) => Node.Hub.AttachRecordedAsync(user);

        public ValueTask DisposeAsync() => Node.DisposeAsync();
    }
}
