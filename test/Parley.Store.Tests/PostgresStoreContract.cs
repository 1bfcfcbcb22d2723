using Parley.Store.Postgres;
using Parley.Testing;
using Xunit;

namespace Parley.Store.Tests;

/// <summary>The store contract on PostgreSQL: a fresh database per test on the shared test server.</summary>
[Trait("Tier", "Store")]
public sealed class PostgresStoreContract : StoreContract
{
    private string _connectionString = "";

    protected override async Task PrepareDatabaseAsync()
    {
        var server = await PostgresServer.Shared;
        _connectionString = await server.CreateDatabaseAsync("contract_" + Guid.NewGuid().ToString("N")[..20]);
    }

    protected override IChatStore CreateStore() =>
        new PostgresChatStore(new PostgresStoreOptions { ConnectionString = _connectionString });
}
