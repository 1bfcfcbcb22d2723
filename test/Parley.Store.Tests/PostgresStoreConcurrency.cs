using Npgsql;
using Parley.Store.Postgres;
using Parley.Testing;
using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>Several PostgreSQL store instances (nodes) on one database at once.</summary>
[Trait("Tier", "Store")]
public sealed class PostgresStoreConcurrency : IAsyncLifetime
{
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));
    private readonly List<PostgresChatStore> _stores = [];

    private CancellationToken Ct => _timeout.Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        _timeout.Dispose();
    }

    [Fact]
    public async Task Migrations_run_concurrently_from_three_stores_on_one_database()
    {
        var server = await PostgresServer.Shared;
        var connectionString = await server.CreateDatabaseAsync("migrate_" + Guid.NewGuid().ToString("N")[..20]);
        var nodes = Enumerable.Range(0, 3).Select(_ => Open(connectionString)).ToArray();

        using var start = new Barrier(nodes.Length);
        await Task.WhenAll(nodes.Select(n => Task.Run(async () =>
        {
            start.SignalAndWait(Ct);
            await n.InitializeAsync(Ct);
        })));

        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(Ct);
            await using var cmd = new NpgsqlCommand("SELECT count(*), count(DISTINCT version) FROM schema_version", connection);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            await r.ReadAsync(Ct);
            Assert.Equal(r.GetInt64(0), r.GetInt64(1));
            Assert.True(r.GetInt64(0) >= 1);
        }

        var alice = NewUser("alice");
        Assert.NotNull(await nodes[0].CreateUserAsync(alice, Ct));
        Assert.Equal(alice, await nodes[2].FindUserByNameAsync("alice", Ct));
        await nodes[1].InitializeAsync(Ct);
        Assert.Equal(alice, await nodes[1].GetUserAsync(alice.Id, Ct));
    }

    [Fact]
    public async Task Two_nodes_appending_to_shared_conversations_in_opposite_orders_stay_gapless()
    {
        var server = await PostgresServer.Shared;
        var connectionString = await server.CreateSchemaAsync("postgres", "nodes_" + Guid.NewGuid().ToString("N")[..20]);
        var nodeA = Open(connectionString);
        var nodeB = Open(connectionString);
        await nodeA.InitializeAsync(Ct);
        await nodeB.InitializeAsync(Ct);
        var alice = NewUser("alice");
        await nodeA.CreateUserAsync(alice, Ct);
        string[] convs = ["c1", "c2", "c3", "c4"];
        foreach (var conv in convs)
        {
            await nodeA.CreateRoomAsync(conv, alice.Id, conv, false, T0, Ct);
        }

        // Node A writes its batches in ascending conversation order, node B in descending order: without one lock
        // order inside the store, these transactions would deadlock each other.
        const int WritersPerNode = 4, Batches = 8;
        var writers = Enumerable.Range(0, WritersPerNode * 2).Select(w => Task.Run(async () =>
        {
            var (store, order) = w % 2 == 0 ? (nodeA, convs) : (nodeB, convs.Reverse().ToArray());
            var count = 0;
            for (var b = 0; b < Batches; b++)
            {
                var batch = order.SelectMany(c => new[] { Msg(c, alice, $"{w}-{b}-{c}-1"), Msg(c, alice, $"{w}-{b}-{c}-2") }).ToArray();
                var results = await store.AppendBatchAsync(batch, Ct);
                Assert.All(results, r => Assert.Equal(AppendStatus.Stored, r.Status));
                count += results.Count;
            }

            return count;
        }));
        var appended = (await Task.WhenAll(writers)).Sum();

        Assert.Equal(WritersPerNode * 2 * Batches * convs.Length * 2, appended);
        foreach (var conv in convs)
        {
            var history = await nodeB.ReadMessagesAsync(conv, new HistoryQuery(0, null, 10_000), Ct);
            Assert.Equal(Seqs(1, appended / convs.Length), history.Messages.Select(m => m.Seq));
        }
    }

    private PostgresChatStore Open(string connectionString)
    {
        var store = new PostgresChatStore(new PostgresStoreOptions { ConnectionString = connectionString });
        _stores.Add(store);
        return store;
    }
}
