using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>
/// The contract every <see cref="IChatStore"/> keeps (the guarantees documented on the interface). Each
/// implementation runs all of it through a small subclass that supplies a fresh, empty database per test.
/// </summary>
[Trait("Tier", "Store")]
public abstract partial class StoreContract : IAsyncLifetime
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));
    private readonly List<IChatStore> _opened = [];

    /// <summary>The initialized store under test.</summary>
    protected IChatStore Store { get; private set; } = null!;

    /// <summary>Cancels a test that hangs instead of letting it block the run.</summary>
    protected CancellationToken Ct => _timeout.Token;

    /// <summary>Creates this test's empty database.</summary>
    protected abstract Task PrepareDatabaseAsync();

    /// <summary>A new, not yet initialized store instance on this test's database.</summary>
    protected abstract IChatStore CreateStore();

    /// <summary>Removes what <see cref="PrepareDatabaseAsync"/> created, after every store is disposed.</summary>
    protected virtual Task CleanupDatabaseAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await PrepareDatabaseAsync();
        Store = await OpenStoreAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }

        await CleanupDatabaseAsync();
        _timeout.Dispose();
    }

    /// <summary>Opens and initializes another store instance on the same database (a restart, or a second node).</summary>
    protected async Task<IChatStore> OpenStoreAsync()
    {
        var store = CreateStore();
        _opened.Add(store);
        await store.InitializeAsync(Ct);
        return store;
    }

    protected async Task<User> NewUserAsync(string name)
    {
        var user = NewUser(name);
        Assert.Equal(user, await Store.CreateUserAsync(user, Ct));
        return user;
    }

    protected async Task<ConversationInfo> NewRoomAsync(string convId, User owner, params User[] members)
    {
        var room = await Store.CreateRoomAsync(convId, owner.Id, "room " + convId, isPrivate: false, T0, Ct);
        foreach (var member in members)
        {
            Assert.Equal(MemberAddStatus.Added, await Store.AddMemberAsync(convId, member.Id, T0, Ct));
        }

        return room;
    }

    protected async Task<AppendResult> AppendAsync(AppendRequest request) =>
        Assert.Single(await Store.AppendBatchAsync([request], Ct));

    protected async Task<StoredMessage> AppendStoredAsync(AppendRequest request)
    {
        var result = await AppendAsync(request);
        Assert.Equal(AppendStatus.Stored, result.Status);
        return result.Message!;
    }

    protected async Task<long> LastSeqAsync(string convId) => (await Store.GetConversationAsync(convId, Ct))!.LastSeq;

    protected async Task<IReadOnlyList<StoredMessage>> AllMessagesAsync(string convId) =>
        (await Store.ReadMessagesAsync(convId, new HistoryQuery(0, null, 100_000), Ct)).Messages;

    [Fact]
    public async Task Ping_answers_true_while_the_database_is_up()
    {
        Assert.True(await Store.PingAsync(Ct));
    }

    [Fact]
    public async Task Initialize_is_idempotent_and_a_reopened_store_keeps_committed_data()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice, bob);
        await AppendStoredAsync(Msg("r1", alice, "k1"));
        await AppendStoredAsync(Msg("r1", bob, "k2"));
        await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 2, Ct);
        await Store.InitializeAsync(Ct);

        await Store.DisposeAsync();
        var reopened = await OpenStoreAsync();

        Assert.Equal(alice, await reopened.GetUserAsync(alice.Id, Ct));
        Assert.Equal(new Membership("r1", bob.Id, 2, 2), await reopened.GetMembershipAsync("r1", bob.Id, Ct));
        Assert.Equal([1L, 2L], (await reopened.ReadMessagesAsync("r1", new HistoryQuery(null, null, 10), Ct)).Messages.Select(m => m.Seq));
        var next = Assert.Single(await reopened.AppendBatchAsync([Msg("r1", alice, "k3")], Ct));
        Assert.Equal(3, next.Message!.Seq);
        var again = Assert.Single(await reopened.AppendBatchAsync([Msg("r1", alice, "k1")], Ct));
        Assert.Equal((AppendStatus.Duplicate, 1L), (again.Status, again.Message!.Seq));
    }
}
