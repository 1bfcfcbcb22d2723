using Parley.Store.Postgres;
using Xunit;

namespace Parley.Store.Tests;

/// <summary>The store contract on PostgreSQL: a fresh schema per test, on the shared test server.</summary>
[Trait("Tier", "Store")]
public sealed class PostgresStoreContract(PostgresContractSchemas schemas) : StoreContract, IClassFixture<PostgresContractSchemas>
{
    private string _connectionString = "";

    protected override async Task PrepareDatabaseAsync() => _connectionString = await schemas.TakeAsync(Ct);

    protected override IChatStore CreateStore() =>
        new PostgresChatStore(new PostgresStoreOptions { ConnectionString = _connectionString });
}
