using Parley.Store.Sqlite;
using Parley.Testing;
using Xunit;

namespace Parley.Store.Tests;

/// <summary>The store contract on SQLite: a fresh database file in its own temporary folder per test.</summary>
[Trait("Tier", "Store")]
public sealed class SqliteStoreContract : StoreContract
{
    private readonly string _dir = TestPorts.NewTempDir("sqlite");

    protected override Task PrepareDatabaseAsync() => Task.CompletedTask;

    // A nested path also checks that the store creates the database's folder.
    protected override IChatStore CreateStore() =>
        new SqliteChatStore(new SqliteStoreOptions { Path = Path.Combine(_dir, "data", "parley.db") });

    protected override Task CleanupDatabaseAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }
}
