namespace Parley.Store.Sqlite;

/// <summary>Where the embedded store keeps its database.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>Path of the database file; its folder is created when missing. Default <c>data/parley.db</c>.</summary>
    public string Path { get; set; } = "data/parley.db";
}
