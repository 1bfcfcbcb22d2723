using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// The rolling reconciliation: memberships changed in the store without the node hearing of it on the bus (the event
/// was lost) reach the node's sessions, a few users after each head check, in turn.
/// </summary>
[Trait("Tier", "Server")]
public sealed class ReconciliationTests
{
    [Fact]
    public async Task Each_pass_reconciles_the_next_user_in_turn_and_sessions_then_follow_the_store()
    {
        var store = EmbeddedNode.NewStore("reconcile");
        var options = new ParleyOptions { HeadCheckIntervalMs = 600_000, ReconcileUsersPerCheck = 1, PresenceOfflineGraceMs = 0 };
        await using var node = await EmbeddedNode.StartAsync(store, options);
        var (ann, ben, cat) = (await StoreUsers.CreateAsync(store, "ann"), await StoreUsers.CreateAsync(store, "ben"), await StoreUsers.CreateAsync(store, "cat"));
        UserRef[] users = [ann, ben, cat];
        var room = await node.Chat.CreateRoomAsync(ann, "kept", isPrivate: false);
        await node.Chat.AddMemberAsync(ann, room.Id, ben.Username);
        await node.Chat.AddMemberAsync(ann, room.Id, cat.Username);
        var gained = await node.Chat.CreateRoomAsync(ben, "gained", isPrivate: false);
        var logs = new Dictionary<UserRef, RecordingSink>();
        foreach (var user in users)
        {
            logs[user] = (await node.Hub.AttachRecordedAsync(user)).Log;
        }

        // Behind the hub's back, as if the bus had lost the events: Ben and Cat leave the room, Ann and Cat join the other.
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.True(await store.RemoveMemberAsync(room.Id, ben.UserId, CancellationToken.None));
        Assert.True(await store.RemoveMemberAsync(room.Id, cat.UserId, CancellationToken.None));
        Assert.Equal(MemberAddStatus.Added, await store.AddMemberAsync(gained.Id, ann.UserId, now, CancellationToken.None));
        Assert.Equal(MemberAddStatus.Added, await store.AddMemberAsync(gained.Id, cat.UserId, now, CancellationToken.None));

        bool Left(UserRef user) => logs[user].Has(f => f.IsLeftOf(room.Id, user.UserId));
        bool Gained(UserRef user) => logs[user].Has(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == gained.Id);
        bool Reconciled(UserRef user) => user == ann ? Gained(ann) : user == ben ? Left(ben) : Left(cat) && Gained(cat);

        // One user per pass, in the ordinal order of their ids; nobody out of turn.
        var order = users.OrderBy(u => u.UserId, StringComparer.Ordinal).ToList();
        for (var pass = 0; pass < order.Count; pass++)
        {
            await node.Hub.ReconcileNextUsersAsync(CancellationToken.None);
            await logs[order[pass]].WaitForAsync(_ => Reconciled(order[pass]));
            foreach (var waiting in order.Skip(pass + 1))
            {
                Assert.False(Left(waiting) || Gained(waiting), $"pass {pass + 1} reached {waiting.Username} out of turn");
            }
        }

        // The room Ben and Cat left is silent for them; the room gained delivers to all three.
        await node.Chat.SendAsync(ann, room.Id, "k1", "after the leaves");
        await node.Chat.SendAsync(ben, gained.Id, "k2", "in the gained room");
        foreach (var user in users)
        {
            await logs[user].WaitForAsync(gained.Id, 1);
        }

        await logs[ann].WaitForAsync(room.Id, 1);
        Assert.Empty(logs[ben].Seqs(room.Id));
        Assert.Empty(logs[cat].Seqs(room.Id));

        // Around again: sessions that match the store are left as they are (presence news, batched, is not counted).
        int Changes() => users.Sum(u => logs[u].Ops().Count(op => op is "member" or "conversation" or "msg"));
        var changes = Changes();
        for (var pass = 0; pass < order.Count + 1; pass++)
        {
            await node.Hub.ReconcileNextUsersAsync(CancellationToken.None);
        }

        await Task.Delay(200);
        Assert.Equal(changes, Changes());
    }

    [Fact]
    public async Task A_pass_that_fails_does_not_stop_the_periodic_healing()
    {
        var sqlite = EmbeddedNode.NewStore("reconcile");
        var (store, faults) = StoreInterceptor.Wrap<FailingListing>(sqlite);
        var options = new ParleyOptions { HeadCheckIntervalMs = 200, PresenceOfflineGraceMs = 0 };
        await using var node = await EmbeddedNode.StartAsync(store, options);
        var (ann, ben, room) = await node.AnnAndBenInARoomAsync();
        var benLog = (await node.Hub.AttachRecordedAsync(ben)).Log;

        // The listing fails with something no caller expects, for several head checks in a row.
        faults.Failing = true;
        Assert.True(await sqlite.RemoveMemberAsync(room.Id, ben.UserId, CancellationToken.None));
        await Eventually.TrueAsync(() => faults.Failures >= 3, TimeSpan.FromSeconds(10), "three failed passes");
        faults.Failing = false;

        await benLog.WaitForAsync(f => f.Op() == "member" && f.Str("conv") == room.Id && f.Str("change") == "left");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_change_met_by_two_healings_at_once_is_announced_once(bool busEventMeanwhile)
    {
        var sqlite = EmbeddedNode.NewStore("reconcile");
        var (store, gate) = StoreInterceptor.Wrap<MembershipGate>(sqlite);
        var options = new ParleyOptions { HeadCheckIntervalMs = 600_000, PresenceOfflineGraceMs = 0 };
        await using var node = await EmbeddedNode.StartAsync(store, options);
        var (ann, ben, room) = await node.AnnAndBenInARoomAsync();
        var annLog = (await node.Hub.AttachRecordedAsync(ann)).Log;
        var benLog = (await node.Hub.AttachRecordedAsync(ben)).Log;

        // Ben leaves one room and joins another behind the hub's back; a rolling pass finds both and stops at its
        // confirming read of the first membership.
        var gained = await node.Chat.CreateRoomAsync(ann, "gained", isPrivate: false);
        Assert.True(await sqlite.RemoveMemberAsync(room.Id, ben.UserId, CancellationToken.None));
        Assert.Equal(MemberAddStatus.Added, await sqlite.AddMemberAsync(gained.Id, ben.UserId, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), CancellationToken.None));
        gate.Close();
        var rolling = node.Hub.ReconcileNextUsersAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => gate.Waiting >= 1, TimeSpan.FromSeconds(10), "the rolling pass reading the membership");
        Task other;
        if (busEventMeanwhile)
        {
            // The leave's own bus event arrives late, while the pass is reading.
            var frame = ServerFrames.Member(room.Id, ben.UserId, ben.Username, joined: false);
            node.Hub.OnEvent(BusTopic.ForConversation(room.Id), new BusEvent(BusEventKind.MemberLeft, room.Id, 0, ben.UserId, "test", frame));
            await benLog.WaitForAsync(f => f.IsLeftOf(room.Id, ben.UserId));
            other = Task.CompletedTask;
        }
        else
        {
            // The full reconciliation after a bus resume starts meanwhile.
            other = node.Hub.ReconcileUsersAsync(CancellationToken.None);
            await Task.Delay(300);
        }

        gate.Open();
        await Task.WhenAll(rolling, other);
        await benLog.WaitForAsync(f => f.IsLeftOf(room.Id, ben.UserId));
        await annLog.WaitForAsync(f => f.IsLeftOf(room.Id, ben.UserId));

        // Room for a second announcement to arrive, had one been made.
        await node.Chat.SendAsync(ann, room.Id, "k1", "after the leave");
        await annLog.WaitForAsync(room.Id, 1);
        await Task.Delay(200);
        Assert.Equal(1, annLog.Count(f => f.IsLeftOf(room.Id, ben.UserId)));
        Assert.Equal(1, benLog.Count(f => f.IsLeftOf(room.Id, ben.UserId)));
        Assert.Empty(benLog.Seqs(room.Id));
        Assert.Equal(1, benLog.Count(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == gained.Id));
    }

    /// <summary>Holds membership reads while closed, counting those waiting.</summary>
    public class MembershipGate : StoreInterceptor
    {
        private volatile TaskCompletionSource? _closed;
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Close() => _closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _closed?.TrySetResult();

        protected override object? Intercept(System.Reflection.MethodInfo method, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(args);
            if (_closed is not { } closed || method.Name != nameof(IChatStore.GetMembershipAsync))
            {
                return null;
            }

            Interlocked.Increment(ref _waiting);
            return Held((string)args[0]!, (string)args[1]!, (CancellationToken)args[2]!);

            async Task<Membership?> Held(string conv, string userId, CancellationToken ct)
            {
                await closed.Task;
                return await Inner.GetMembershipAsync(conv, userId, ct);
            }
        }
    }

    /// <summary>Fails the conversation listing with an unexpected exception while <see cref="Failing"/>.</summary>
    public class FailingListing : StoreInterceptor
    {
        private int _failures;

        public bool Failing { get; set; }

        public int Failures => Volatile.Read(ref _failures);

        protected override object? Intercept(System.Reflection.MethodInfo method, object?[]? args)
        {
            if (!Failing || method.Name != nameof(IChatStore.ListConversationsOfUsersAsync))
            {
                return null;
            }

            Interlocked.Increment(ref _failures);
            return Task.FromException<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>>(new InvalidOperationException("an unexpected store failure"));
        }
    }
}
