namespace Parley.Store.Postgres;

/// <summary>How to reach PostgreSQL and how much append concurrency to offer.</summary>
public sealed class PostgresStoreOptions
{
    /// <summary>
    /// Npgsql connection string. When it sets no <c>Timeout</c> or <c>Command Timeout</c>, the store uses 3 s and 5 s,
    /// so an outage fails fast instead of holding senders for Npgsql's defaults of 15 s and 30 s; without a
    /// <c>Max Pool Size</c> it uses 50. Calls beyond the pool's size wait their turn instead of timing out on the pool.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>How many append batches may run at once; advertised as <see cref="IChatStore.MaxConcurrentAppends"/>.</summary>
    public int MaxConcurrentAppends { get; set; } = 4;
}
