using Microsoft.Data.Sqlite;

namespace Parley.Store.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with durable commits (<c>synchronous=FULL</c>). Every write goes
/// through one connection in turn; reads use pooled connections and run beside the writer. Choose it for a single
/// node; a cluster needs the PostgreSQL store.
/// </summary>
public sealed partial class SqliteChatStore : IChatStore
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly string _path;
    private readonly string _writeConnectionString;
    private readonly string _readConnectionString;
    private SqliteConnection? _writer;
    private bool _disposed;

    /// <summary>Creates the store; nothing is opened before <see cref="InitializeAsync"/>.</summary>
    public SqliteChatStore(SqliteStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Path);
        _path = System.IO.Path.GetFullPath(options.Path);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = 5,
            Pooling = false,
        };
        _writeConnectionString = builder.ToString();
        builder.Mode = SqliteOpenMode.ReadWrite;
        builder.Pooling = true;
        _readConnectionString = builder.ToString();
    }

    /// <inheritdoc />
    public int MaxConcurrentAppends => 1;

    /// <inheritdoc />
    public async Task InitializeAsync(CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_writer is not null)
            {
                return;
            }

            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_path)!);
            var writer = new SqliteConnection(_writeConnectionString);
            try
            {
                writer.Open();
                using (var pragmas = SqliteRows.Command(
                    writer,
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;"))
                {
                    pragmas.ExecuteNonQuery();
                }

                SqliteSchema.Migrate(writer);
            }
            catch (SqliteException e) when (SqliteRows.IsUnavailable(e))
            {
                writer.Dispose();
                throw Unavailable(e);
            }
            catch
            {
                writer.Dispose();
                throw;
            }

            _writer = writer;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken ct)
    {
        try
        {
            return await ReadAsync(c =>
            {
                using var cmd = SqliteRows.Command(c, "SELECT 1");
                return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 1;
            }, ct);
        }
        catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException or SqliteException)
        {
            return false;
        }
    }

    /// <summary>Closes the writer and the pooled readers of this file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_writer is not null)
            {
                await _writer.DisposeAsync();
                _writer = null;
            }

            // Pooled readers would otherwise keep the file open after the store is gone.
            using var probe = new SqliteConnection(_readConnectionString);
            SqliteConnection.ClearPool(probe);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> in one immediate transaction on the single writer connection.</summary>
    private async Task<T> WriteAsync<T>(Func<SqliteTransaction, T> work, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var writer = _writer ?? throw new InvalidOperationException("InitializeAsync has not completed.");
            using var tx = writer.BeginTransaction(deferred: false);
            var result = work(tx);
            tx.Commit();
            return result;
        }
        catch (SqliteException e) when (SqliteRows.IsUnavailable(e))
        {
            throw Unavailable(e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> on a pooled reader connection; WAL lets it run beside the writer.</summary>
    private async Task<T> ReadAsync<T>(Func<SqliteConnection, T> work, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            await using var connection = new SqliteConnection(_readConnectionString);
            await connection.OpenAsync(ct);
            return work(connection);
        }
        catch (SqliteException e) when (SqliteRows.IsUnavailable(e))
        {
            throw Unavailable(e);
        }
    }

    private StoreUnavailableException Unavailable(SqliteException e) =>
        new($"the SQLite database {_path} failed: {e.Message}", e);
}
