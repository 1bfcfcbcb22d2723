using System.Data.Common;
using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>
/// The clustered store: PostgreSQL through one pooled <see cref="NpgsqlDataSource"/>, shared safely by any number of
/// nodes. Choose it whenever more than one node runs. An outage fails fast with <see cref="StoreUnavailableException"/>.
/// </summary>
public sealed partial class PostgresChatStore : IChatStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _pingSource;

    // Admits at most the pool's size of calls at once: a burst waits here, in order, instead of timing out while
    // waiting for a pooled connection (which would read as an outage and fail calls the database could serve).
    private readonly SemaphoreSlim _gate;

    /// <summary>Creates the store; no connection is opened before the first call.</summary>
    public PostgresChatStore(PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxConcurrentAppends, 1);
        MaxConcurrentAppends = options.MaxConcurrentAppends;
        var connectionString = WithDefaults(options.ConnectionString);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _gate = new SemaphoreSlim(new NpgsqlConnectionStringBuilder(connectionString).MaxPoolSize);
        // Readiness asks whether the database answers, not whether a pooled connection is free right now: the ping has
        // a connection of its own, so a busy pool is not reported as "store down".
        _pingSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 1, MinPoolSize = 0 }.ConnectionString);
    }

    /// <inheritdoc />
    public int MaxConcurrentAppends { get; }

    /// <inheritdoc />
    public Task InitializeAsync(CancellationToken ct) =>
        GuardAsync(async token =>
        {
            await PostgresSchema.MigrateAsync(_dataSource, token);
            return true;
        }, ct);

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken ct)
    {
        try
        {
            await using var cmd = _pingSource.CreateCommand("SELECT 1");
            return await cmd.ExecuteScalarAsync(ct) is 1;
        }
        catch (Exception e) when (e is OperationCanceledException || PostgresErrors.IsUnavailable(e))
        {
            if (PostgresErrors.IsConnectionLoss(e))
            {
                _pingSource.Clear();
                _dataSource.Clear();
            }

            return false;
        }
    }

    /// <summary>Closes every pooled connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _pingSource.DisposeAsync();
        await _dataSource.DisposeAsync();
        _gate.Dispose();
    }

    /// <summary>Runs <paramref name="work"/>, reporting database outages as <see cref="StoreUnavailableException"/>.</summary>
    private async Task<T> GuardAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            return await work(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException && PostgresErrors.IsUnavailable(e))
        {
            if (PostgresErrors.IsConnectionLoss(e))
            {
                // Idle pooled connections died with the server too; dropping them now keeps each of them from
                // failing one more call after the database is back.
                _dataSource.Clear();
            }

            throw new StoreUnavailableException($"PostgreSQL is unavailable: {e.Message}", e);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>One statement on a pooled connection; the first row mapped, or default when there is none.</summary>
    private Task<T?> QueryFirstAsync<T>(string sql, NpgsqlParameter[] parameters, Func<NpgsqlDataReader, T> map, CancellationToken ct) =>
        GuardAsync(async token =>
        {
            await using var cmd = _dataSource.CreateCommand(sql);
            AddParameters(cmd, parameters);
            await using var r = await cmd.ExecuteReaderAsync(token);
            return await r.ReadAsync(token) ? map(r) : default;
        }, ct);

    /// <summary>One statement on a pooled connection; every row mapped.</summary>
    private Task<IReadOnlyList<T>> QueryListAsync<T>(string sql, NpgsqlParameter[] parameters, Func<NpgsqlDataReader, T> map, CancellationToken ct) =>
        GuardAsync<IReadOnlyList<T>>(async token =>
        {
            await using var cmd = _dataSource.CreateCommand(sql);
            AddParameters(cmd, parameters);
            await using var r = await cmd.ExecuteReaderAsync(token);
            var rows = new List<T>();
            while (await r.ReadAsync(token))
            {
                rows.Add(map(r));
            }

            return rows;
        }, ct);

    private static void AddParameters(NpgsqlCommand cmd, NpgsqlParameter[] parameters)
    {
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(p);
        }
    }

    private static string WithDefaults(string connectionString)
    {
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!given.ContainsKey("Timeout"))
        {
            builder.Timeout = 3;
        }

        // Three nodes of 100 connections each would fill a default PostgreSQL (max_connections 100-300); a node never
        // usefully runs more than a few dozen statements at once on the hardware it shares with the database.
        if (!given.ContainsKey("Maximum Pool Size") && !given.ContainsKey("Max Pool Size") && !given.ContainsKey("MaxPoolSize"))
        {
            builder.MaxPoolSize = 50;
        }

        if (!given.ContainsKey("Command Timeout") && !given.ContainsKey("CommandTimeout"))
        {
            builder.CommandTimeout = 5;
        }

        // The same few statements run for every batch: prepared once per connection, PostgreSQL parses and plans them
        // once instead of on every call. A pooled connection is handed back as it is (no DISCARD ALL, which would drop
        // those prepared statements); the store never leaves session state behind.
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 32;
            builder.AutoPrepareMinUsages = 2;
        }

        if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        return builder.ConnectionString;
    }
}
