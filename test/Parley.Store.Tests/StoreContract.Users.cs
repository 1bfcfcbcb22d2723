using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>Users, rooms, DMs, membership and conversation views.</summary>
public abstract partial class StoreContract
{
    [Fact]
    public async Task Users_are_found_by_id_and_name_and_a_taken_name_is_refused()
    {
        var alice = await NewUserAsync("alice");

        Assert.Null(await Store.CreateUserAsync(new User("u-other", "alice", "h", 1), Ct));
        Assert.Equal(alice, await Store.FindUserByNameAsync("alice", Ct));
        Assert.Equal(alice, await Store.GetUserAsync(alice.Id, Ct));
        Assert.Null(await Store.GetUserAsync("u-other", Ct));
        Assert.Null(await Store.FindUserByNameAsync("nobody", Ct));
    }

    [Fact]
    public async Task A_new_room_has_its_owner_as_only_member()
    {
        var alice = await NewUserAsync("alice");

        var room = await Store.CreateRoomAsync("r1", alice.Id, "General", isPrivate: true, 5, Ct);

        var expected = new ConversationInfo("r1", ConversationKind.Room, "General", true, alice.Id, 0, 1);
        Assert.Equal(expected, room);
        Assert.Equal(expected, await Store.GetConversationAsync("r1", Ct));
        Assert.Equal([alice.Id], await Store.ListMemberIdsAsync("r1", Ct));
        Assert.Equal(new Membership("r1", alice.Id, 0, 0), await Store.GetMembershipAsync("r1", alice.Id, Ct));
        Assert.Null(await Store.GetConversationAsync("missing", Ct));
    }

    [Fact]
    public async Task Adding_members_reports_added_already_member_and_no_conversation()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice);

        Assert.Equal(MemberAddStatus.Added, await Store.AddMemberAsync("r1", bob.Id, 1, Ct));
        Assert.Equal(MemberAddStatus.AlreadyMember, await Store.AddMemberAsync("r1", bob.Id, 2, Ct));
        Assert.Equal(MemberAddStatus.AlreadyMember, await Store.AddMemberAsync("r1", alice.Id, 2, Ct));
        Assert.Equal(MemberAddStatus.NoConversation, await Store.AddMemberAsync("missing", bob.Id, 3, Ct));

        Assert.Equal(2, (await Store.GetConversationAsync("r1", Ct))!.MemberCount);
        Assert.Equal(new[] { alice.Id, bob.Id }.Order(), (await Store.ListMemberIdsAsync("r1", Ct)).Order());
    }

    [Fact]
    public async Task A_new_member_starts_at_the_last_seq()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice);
        for (var i = 0; i < 3; i++)
        {
            await AppendStoredAsync(Msg("r1", alice, $"k{i}"));
        }

        await Store.AddMemberAsync("r1", bob.Id, 9, Ct);

        Assert.Equal(new Membership("r1", bob.Id, 3, 3), await Store.GetMembershipAsync("r1", bob.Id, Ct));
        var view = await Store.GetConversationViewAsync("r1", bob.Id, Ct);
        Assert.Equal((3L, 3L, 3L), (view!.DeliveredSeq, view.ReadSeq, view.Info.LastSeq));
        Assert.Equal(3, (await Store.ReadMessagesAsync("r1", new HistoryQuery(null, null, 10), Ct)).Messages.Count);
    }

    [Fact]
    public async Task Removing_a_member_updates_the_count_and_refuses_their_later_appends()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice, bob);

        Assert.True(await Store.RemoveMemberAsync("r1", bob.Id, Ct));
        Assert.False(await Store.RemoveMemberAsync("r1", bob.Id, Ct));
        Assert.False(await Store.RemoveMemberAsync("missing", bob.Id, Ct));

        Assert.Equal(1, (await Store.GetConversationAsync("r1", Ct))!.MemberCount);
        Assert.Null(await Store.GetMembershipAsync("r1", bob.Id, Ct));
        Assert.Null(await Store.GetConversationViewAsync("r1", bob.Id, Ct));
        Assert.Equal([alice.Id], await Store.ListMemberIdsAsync("r1", Ct));
        Assert.Equal(AppendStatus.NotMember, (await AppendAsync(Msg("r1", bob, "k1"))).Status);
        Assert.Equal(MemberAddStatus.Added, await Store.AddMemberAsync("r1", bob.Id, 3, Ct));
        Assert.Equal(2, (await Store.GetConversationAsync("r1", Ct))!.MemberCount);
    }

    [Fact]
    public async Task A_users_conversation_count_follows_joins_dms_and_leaves()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        Assert.Equal(0, await Store.CountConversationsAsync(alice.Id, Ct));
        Assert.Equal(0, await Store.CountConversationsAsync("nobody", Ct));

        await NewRoomAsync("r1", alice, bob);
        await NewRoomAsync("r2", alice);
        await Store.GetOrCreateDmAsync("dm1", alice.Id, bob.Id, 2, Ct);
        Assert.Equal(3, await Store.CountConversationsAsync(alice.Id, Ct));
        Assert.Equal(2, await Store.CountConversationsAsync(bob.Id, Ct));

        Assert.True(await Store.RemoveMemberAsync("r1", alice.Id, Ct));
        Assert.Equal(2, await Store.CountConversationsAsync(alice.Id, Ct));
        Assert.Equal((await Store.ListConversationsAsync(bob.Id, Ct)).Count, await Store.CountConversationsAsync(bob.Id, Ct));
    }

    [Fact]
    public async Task Dm_get_or_create_from_both_sides_at_once_yields_one_conversation()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");

        var calls = Enumerable.Range(0, 16).Select(i => Task.Run(() => i % 2 == 0
            ? Store.GetOrCreateDmAsync($"dm-{i}", alice.Id, bob.Id, 7, Ct)
            : Store.GetOrCreateDmAsync($"dm-{i}", bob.Id, alice.Id, 7, Ct)));
        var results = await Task.WhenAll(calls);

        var id = Assert.Single(results.Select(r => r.Conversation.Id).Distinct());
        Assert.Single(results, r => r.Created);
        var expected = new ConversationInfo(id, ConversationKind.Dm, "", true, null, 0, 2);
        Assert.All(results, r => Assert.Equal(expected, r.Conversation));
        Assert.Equal(expected, await Store.GetConversationAsync(id, Ct));
        Assert.Equal(new[] { alice.Id, bob.Id }.Order(), (await Store.ListMemberIdsAsync(id, Ct)).Order());

        var later = await Store.GetOrCreateDmAsync("dm-late", bob.Id, alice.Id, 8, Ct);
        Assert.Equal((id, false), (later.Conversation.Id, later.Created));
        Assert.Null(await Store.GetConversationAsync("dm-late", Ct));
    }

    [Fact]
    public async Task Conversation_views_carry_the_members_watermarks_and_the_dm_peer()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        var carol = await NewUserAsync("carol");
        await NewRoomAsync("r1", alice, bob);
        var (dm, _) = await Store.GetOrCreateDmAsync("dm1", alice.Id, bob.Id, 2, Ct);
        await AppendStoredAsync(Msg(dm.Id, bob, "k1"));
        await AppendStoredAsync(Msg(dm.Id, bob, "k2"));
        await Store.RaiseWatermarkAsync(dm.Id, alice.Id, WatermarkKind.Delivered, 2, Ct);
        await Store.RaiseWatermarkAsync(dm.Id, alice.Id, WatermarkKind.Read, 1, Ct);

        var dmView = await Store.GetConversationViewAsync(dm.Id, alice.Id, Ct);
        Assert.Equal(new ConversationView(dm with { LastSeq = 2 }, 2, 1, new UserRef(bob.Id, "bob")), dmView);
        Assert.Equal(new UserRef(alice.Id, "alice"), (await Store.GetConversationViewAsync(dm.Id, bob.Id, Ct))!.Peer);
        var roomView = await Store.GetConversationViewAsync("r1", bob.Id, Ct);
        Assert.Equal((ConversationKind.Room, 2, (UserRef?)null), (roomView!.Info.Kind, roomView.Info.MemberCount, roomView.Peer));
        Assert.Null(await Store.GetConversationViewAsync(dm.Id, carol.Id, Ct));

        var list = await Store.ListConversationsAsync(alice.Id, Ct);
        Assert.Equal(new[] { "dm1", "r1" }, list.Select(v => v.Info.Id).Order());
        Assert.Equal(dmView, list.Single(v => v.Info.Id == "dm1"));
        Assert.Empty(await Store.ListConversationsAsync(carol.Id, Ct));
    }

    [Fact]
    public async Task Conversations_of_many_users_read_at_once_match_each_users_own_list()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        var carol = await NewUserAsync("carol");
        await NewRoomAsync("r2", bob, alice);
        await NewRoomAsync("r1", alice, bob, carol);
        var (dm, _) = await Store.GetOrCreateDmAsync("dm1", alice.Id, bob.Id, 2, Ct);
        await AppendStoredAsync(Msg(dm.Id, bob, "k1"));
        await Store.RaiseWatermarkAsync(dm.Id, alice.Id, WatermarkKind.Read, 1, Ct);
        var dave = await NewUserAsync("dave");

        var all = await Store.ListConversationsOfUsersAsync([alice.Id, bob.Id, carol.Id, dave.Id, "u-nobody"], Ct);

        Assert.Equal(new[] { alice.Id, bob.Id, carol.Id, dave.Id, "u-nobody" }.Order(), all.Keys.Order());
        foreach (var user in new[] { alice, bob, carol, dave })
        {
            // The same views in the same order as the single-user call.
            Assert.Equal(await Store.ListConversationsAsync(user.Id, Ct), all[user.Id]);
        }

        Assert.Equal(3, all[alice.Id].Count);
        Assert.Equal(new ConversationView(dm with { LastSeq = 1 }, 1, 1, new UserRef(bob.Id, "bob")), all[alice.Id].Single(v => v.Info.Id == "dm1"));
        Assert.Equal(["r1"], all[carol.Id].Select(v => v.Info.Id));
        Assert.Empty(all[dave.Id]);
        Assert.Empty(all["u-nobody"]);
        Assert.Empty(await Store.ListConversationsOfUsersAsync([], Ct));
        Assert.Equal(["r1"], (await Store.ListConversationsOfUsersAsync([carol.Id, carol.Id], Ct))[carol.Id].Select(v => v.Info.Id));
    }

    [Fact]
    public async Task Public_rooms_are_listed_most_members_first_without_private_rooms_or_dms()
    {
        var users = new List<User>();
        for (var i = 0; i < 4; i++)
        {
            users.Add(await NewUserAsync($"user{i}"));
        }

        await NewRoomAsync("small", users[0]);
        await NewRoomAsync("big", users[0], users[1], users[2]);
        await NewRoomAsync("medium", users[0], users[1]);
        await Store.CreateRoomAsync("secret", users[0].Id, "secret", isPrivate: true, 1, Ct);
        await Store.AddMemberAsync("secret", users[1].Id, 1, Ct);
        await Store.AddMemberAsync("secret", users[2].Id, 1, Ct);
        await Store.AddMemberAsync("secret", users[3].Id, 1, Ct);
        await Store.GetOrCreateDmAsync("dm", users[0].Id, users[1].Id, 1, Ct);

        var rooms = await Store.ListPublicRoomsAsync(10, Ct);
        Assert.Equal(["big", "medium", "small"], rooms.Select(r => r.Id));
        Assert.Equal([3, 2, 1], rooms.Select(r => r.MemberCount));
        Assert.Equal(["big", "medium"], (await Store.ListPublicRoomsAsync(2, Ct)).Select(r => r.Id));
        Assert.Empty(await Store.ListPublicRoomsAsync(0, Ct));
    }

    [Fact]
    public async Task Presence_conversations_are_every_dm_and_rooms_up_to_the_member_bound()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        var carol = await NewUserAsync("carol");
        var dave = await NewUserAsync("dave");
        await NewRoomAsync("pair", alice, bob);
        await NewRoomAsync("trio", alice, bob, carol);
        await NewRoomAsync("crowd", alice, bob, carol, dave);
        await NewRoomAsync("not-mine", bob, carol);
        await Store.GetOrCreateDmAsync("dm-ab", alice.Id, bob.Id, 1, Ct);

        Assert.Equal(["dm-ab", "pair", "trio"], (await Store.ListPresenceConversationsAsync(alice.Id, 3, Ct)).Order(StringComparer.Ordinal));
        Assert.Equal(["dm-ab"], await Store.ListPresenceConversationsAsync(alice.Id, 1, Ct));
        Assert.Empty(await Store.ListPresenceConversationsAsync("u-nobody", 200, Ct));
    }
}
