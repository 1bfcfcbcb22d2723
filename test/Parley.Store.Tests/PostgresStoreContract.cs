using Parley.Store.Postgres;
using Parley.Testing;
using Xunit;

namespace Parley.Store.Tests;

/// <summary>The store contract on PostgreSQL: a fresh schema per test, in one database of the shared test server.</summary>
[Trait("Tier", "Store")]
public sealed class PostgresStoreContract(PostgresStoreContract.Database database) : StoreContract, IClassFixture<PostgresStoreContract.Database>
{
    private string _connectionString = "";

    protected override async Task PrepareDatabaseAsync()
    {
        var server = await PostgresServer.Shared;
        _connectionString = await server.CreateSchemaAsync(database.Name, "t_" + Guid.NewGuid().ToString("N")[..20]);
    }

    protected override IChatStore CreateStore() =>
        new PostgresChatStore(new PostgresStoreOptions { ConnectionString = _connectionString });

    /// <summary>The database this class's tests share, each in its own schema.</summary>
    public sealed class Database : IAsyncLifetime
    {
        /// <summary>The database's name on <see cref="PostgresServer.Shared"/>.</summary>
        public string Name { get; } = "contract_" + Guid.NewGuid().ToString("N")[..20];

        public async Task InitializeAsync() => await (await PostgresServer.Shared).CreateDatabaseAsync(Name);

        public Task DisposeAsync() => Task.CompletedTask;
    }
}
