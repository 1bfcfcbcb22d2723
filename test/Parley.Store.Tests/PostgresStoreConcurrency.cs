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

    [Fact]
    public async Task A_database_written_before_migration_3_upgrades_and_keeps_its_seqs_and_duplicates()
    {
        var server = await PostgresServer.Shared;
        var connectionString = await server.CreateDatabaseAsync("upgrade_" + Guid.NewGuid().ToString("N")[..20]);
        await using (var dataSource = NpgsqlDataSource.Create(connectionString))
        {
            await PostgresSchema.MigrateAsync(dataSource, 2, Ct);
            // What a node of the previous version wrote: a user, a room she is in, and one message by the old function.
            await using var cmd = dataSource.CreateCommand("""
                INSERT INTO users VALUES ('u1', 'alice', 'x', 1);
                INSERT INTO conversations (id, kind, name, private, owner_id, created_at) VALUES ('c1', 'room', 'garden', false, 'u1', 1);
                INSERT INTO members VALUES ('c1', 'u1', 0, 0, 1);
                SELECT o_outcome, o_seq FROM parley_append('{c1}', '{u1}', '{k1}', '{m1}', '{alice}', '{hello}', '{5}', '{n1}');
                """);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (r.FieldCount == 0 && await r.NextResultAsync(Ct))
            {
            }

            Assert.True(await r.ReadAsync(Ct));
            Assert.Equal((1, 1L), (r.GetInt16(0), r.GetInt64(1)));
        }

        var store = Open(connectionString);
        await store.InitializeAsync(Ct);
        var results = await store.AppendBatchAsync(
        [
            new AppendRequest("c1", "u1", "alice", "k1", "m-retry", "hello", 6, "n2"),
            new AppendRequest("c1", "u1", "alice", "k2", "m2", "second", 7, "n2"),
            new AppendRequest("c1", "u2", "bob", "k3", "m3", "not a member", 8, "n2"),
            new AppendRequest("c1", "u1", "alice", "k2", "m2-retry", "second", 9, "n2"),
        ], Ct);

        Assert.Equal(
            [(AppendStatus.Duplicate, 1L, "m1"), (AppendStatus.Stored, 2L, "m2"), (AppendStatus.NotMember, 0L, ""), (AppendStatus.Duplicate, 2L, "m2")],
            results.Select(x => (x.Status, x.Message?.Seq ?? 0, x.Message?.Id ?? "")));
        var page = await store.ReadMessagesAsync("c1", new HistoryQuery(After: null, Before: null, Limit: 10), Ct);
        Assert.Equal([(1L, "hello"), (2L, "second")], page.Messages.Select(m => (m.Seq, m.Body)));

        await using var check = new NpgsqlConnection(connectionString);
        await check.OpenAsync(Ct);
        await using var versions = new NpgsqlCommand(
            "SELECT max(version), (SELECT count(*) FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f') FROM schema_version",
            check);
        await using var v = await versions.ExecuteReaderAsync(Ct);
        Assert.True(await v.ReadAsync(Ct));
        Assert.Equal((3, 0L), (v.GetInt32(0), v.GetInt64(1)));
    }

    private PostgresChatStore Open(string connectionString)
    {
        var store = new PostgresChatStore(new PostgresStoreOptions { ConnectionString = connectionString });
        _stores.Add(store);
        return store;
    }
}
