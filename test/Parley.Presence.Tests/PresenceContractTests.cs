using Xunit;

namespace Parley.Presence.Tests;

/// <summary>
/// The behaviour every <see cref="IPresenceStore"/> promises, as seen from one node. Each implementation runs it
/// through a small subclass that says how to create a store.
/// </summary>
public abstract class PresenceContractTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _disposables = [];

    /// <summary>A new, not yet started store with no state of its own.</summary>
    protected abstract IPresenceStore CreateStore();

    /// <summary>Registers something to dispose after the test, in reverse order.</summary>
    protected void DisposeLater(IAsyncDisposable disposable) => _disposables.Add(disposable);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        for (var i = _disposables.Count - 1; i >= 0; i--)
        {
            await _disposables[i].DisposeAsync();
        }
    }

    private async Task<(IPresenceStore Store, TestNode Node)> StartAsync()
    {
        var node = new TestNode("node-" + Guid.NewGuid().ToString("N")[..8]);
        var store = CreateStore();
        DisposeLater(store);
        await store.StartAsync(node, CancellationToken.None);
        return (store, node);
    }

    private static string NewUser() => "u-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task First_connection_is_first_and_a_second_one_is_not()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();

        Assert.True(await node.ConnectAsync(store, "c1", user));
        Assert.False(await node.ConnectAsync(store, "c2", user));
    }

    [Fact]
    public async Task Only_the_last_disconnect_is_last()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();
        await node.ConnectAsync(store, "c1", user);
        await node.ConnectAsync(store, "c2", user);

        Assert.False(await node.DisconnectAsync(store, "c1", user));
        Assert.True(await node.DisconnectAsync(store, "c2", user));
    }

    [Fact]
    public async Task A_user_who_went_offline_comes_online_again_with_the_next_connection()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();
        await node.ConnectAsync(store, "c1", user);
        Assert.True(await node.DisconnectAsync(store, "c1", user));

        Assert.True(await node.ConnectAsync(store, "c2", user));
        Assert.Equal([user], await store.OnlineAsync([user], CancellationToken.None));
    }

    [Fact]
    public async Task Registering_the_same_connection_twice_counts_it_once()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();

        Assert.True(await node.ConnectAsync(store, "c1", user));
        Assert.False(await node.ConnectAsync(store, "c1", user));

        Assert.Equal(1, (await store.StatsAsync(CancellationToken.None)).Connections);
        Assert.True(await node.DisconnectAsync(store, "c1", user));
    }

    [Fact]
    public async Task Disconnecting_an_unknown_connection_is_not_last_and_changes_nothing()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();
        await node.ConnectAsync(store, "c1", user);

        Assert.False(await store.DisconnectAsync(new PresenceConnection("nope", user), CancellationToken.None));
        Assert.False(await store.DisconnectAsync(new PresenceConnection("nope", NewUser()), CancellationToken.None));
        Assert.False(await store.DisconnectAsync(new PresenceConnection("c1", NewUser()), CancellationToken.None));

        Assert.Equal([user], await store.OnlineAsync([user], CancellationToken.None));
        Assert.True(await node.DisconnectAsync(store, "c1", user));
    }

    [Fact]
    public async Task Fifty_concurrent_connects_of_one_user_yield_exactly_one_first()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => node.ConnectAsync(store, "c" + i, user))));

        Assert.Equal(1, answers.Count(first => first));
        Assert.Equal(50, (await store.StatsAsync(CancellationToken.None)).Connections);
    }

    [Fact]
    public async Task Fifty_concurrent_disconnects_of_one_user_yield_exactly_one_last()
    {
        var (store, node) = await StartAsync();
        var user = NewUser();
        for (var i = 0; i < 50; i++)
        {
            await node.ConnectAsync(store, "c" + i, user);
        }

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => node.DisconnectAsync(store, "c" + i, user))));

        Assert.Equal(1, answers.Count(last => last));
        Assert.Empty(await store.OnlineAsync([user], CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_connects_and_disconnects_of_many_users_answer_first_and_last_once_each()
    {
        var (store, node) = await StartAsync();
        var users = Enumerable.Range(0, 20).Select(_ => NewUser()).ToArray();
        var connections = users.SelectMany(u => Enumerable.Range(0, 10).Select(i => (Conn: $"{u}-c{i}", User: u))).ToArray();

        var firsts = await Task.WhenAll(connections.Select(c => Task.Run(async () => (c.User, First: await node.ConnectAsync(store, c.Conn, c.User)))));
        var lasts = await Task.WhenAll(connections.Select(c => Task.Run(async () => (c.User, Last: await node.DisconnectAsync(store, c.Conn, c.User)))));

        Assert.All(users, u => Assert.Equal(1, firsts.Count(f => f.User == u && f.First)));
        Assert.All(users, u => Assert.Equal(1, lasts.Count(l => l.User == u && l.Last)));
    }

    [Fact]
    public async Task Connections_of_different_users_are_independent()
    {
        var (store, node) = await StartAsync();
        var (alice, bob) = (NewUser(), NewUser());

        Assert.True(await node.ConnectAsync(store, "a1", alice));
        Assert.True(await node.ConnectAsync(store, "b1", bob));
        Assert.True(await node.DisconnectAsync(store, "a1", alice));

        Assert.Equal([bob], await store.OnlineAsync([alice, bob], CancellationToken.None));
    }

    [Fact]
    public async Task Online_returns_the_subset_of_the_asked_users_that_is_online()
    {
        var (store, node) = await StartAsync();
        var (alice, bob, carol, dave) = (NewUser(), NewUser(), NewUser(), NewUser());
        await node.ConnectAsync(store, "a1", alice);
        await node.ConnectAsync(store, "a2", alice);
        await node.ConnectAsync(store, "b1", bob);
        await node.ConnectAsync(store, "c1", carol);
        await node.DisconnectAsync(store, "c1", carol);

        var online = await store.OnlineAsync([alice, bob, carol, dave, alice], CancellationToken.None);

        Assert.Equal(new HashSet<string> { alice, bob }, online.ToHashSet());
        Assert.Equal([bob], await store.OnlineAsync([bob, dave], CancellationToken.None));
        Assert.Empty(await store.OnlineAsync([], CancellationToken.None));
        Assert.Empty(await store.OnlineAsync([dave], CancellationToken.None));
    }

    [Fact]
    public async Task Stats_count_online_users_connections_and_this_node()
    {
        var (store, node) = await StartAsync();
        var (alice, bob, carol) = (NewUser(), NewUser(), NewUser());
        await node.ConnectAsync(store, "a1", alice);
        await node.ConnectAsync(store, "a2", alice);
        await node.ConnectAsync(store, "b1", bob);
        await node.ConnectAsync(store, "c1", carol);
        await node.DisconnectAsync(store, "c1", carol);

        var stats = await store.StatsAsync(CancellationToken.None);

        Assert.Equal(2, stats.OnlineUsers);
        Assert.Equal(3, stats.Connections);
        var only = Assert.Single(stats.Nodes);
        Assert.Equal(new NodeStats(node.NodeId, 3), only);
    }

    [Fact]
    public async Task Stats_of_an_idle_node_are_zero_with_the_node_listed()
    {
        var (store, node) = await StartAsync();

        var stats = await store.StatsAsync(CancellationToken.None);

        Assert.Equal(0, stats.OnlineUsers);
        Assert.Equal(0, stats.Connections);
        Assert.Equal([new NodeStats(node.NodeId, 0)], stats.Nodes);
    }

    [Fact]
    public async Task Ping_answers_true_while_the_backend_is_up()
    {
        var (store, _) = await StartAsync();

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        Assert.True(await store.PingAsync(deadline.Token));
    }

    [Fact]
    public async Task Starting_twice_is_refused()
    {
        var (store, node) = await StartAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => store.StartAsync(node, CancellationToken.None));
    }
}
