using System.Threading.Channels;
using Parley.Store.Postgres;
using Parley.Testing;
using Xunit;

namespace Parley.Store.Tests;

/// <summary>
/// Fresh, migrated schemas for the PostgreSQL contract, one per test, in one database of the shared server. They are
/// prepared a little ahead in the background: creating a schema's tables costs a few hundred milliseconds on a busy
/// disk, and this way that cost overlaps the tests instead of adding up between them.
/// </summary>
public sealed class PostgresContractSchemas : IAsyncLifetime
{
    private readonly Channel<string> _ready = Channel.CreateBounded<string>(2);
    private readonly CancellationTokenSource _stop = new();
    private Task _producer = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.Shared;
        var database = "contract_" + Guid.NewGuid().ToString("N")[..20];
        await server.CreateDatabaseAsync(database);
        _producer = Task.Run(() => ProduceAsync(server, database));
    }

    /// <summary>A connection string whose search path is a schema no other test has used.</summary>
    public ValueTask<string> TakeAsync(CancellationToken ct) => _ready.Reader.ReadAsync(ct);

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _producer;
        _stop.Dispose();
    }

    private async Task ProduceAsync(PostgresServer server, string database)
    {
        try
        {
            while (true)
            {
                var connectionString = await server.CreateSchemaAsync(database, "t_" + Guid.NewGuid().ToString("N")[..20]);
                await using (var store = new PostgresChatStore(new PostgresStoreOptions { ConnectionString = connectionString }))
                {
                    await store.InitializeAsync(_stop.Token);
                }

                await _ready.Writer.WriteAsync(connectionString, _stop.Token);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The waiting test then fails with this error instead of hanging.
            _ready.Writer.TryComplete(e);
        }
    }
}
