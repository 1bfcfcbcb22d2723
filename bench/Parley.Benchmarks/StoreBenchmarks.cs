using BenchmarkDotNet.Attributes;
using Parley.Store.Sqlite;

namespace Parley.Benchmarks;

/// <summary>Group-commit batches appended to the SQLite store (WAL): the cost per batch of 1, 16 and 128 messages.</summary>
[MemoryDiagnoser]
public class StoreBenchmarks
{
    private string _dir = "";
    private SqliteChatStore _store = null!;
    private long _n;

    [Params(1, 16, 128)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _dir = Directory.CreateTempSubdirectory("parley-bench-").FullName;
        _store = new SqliteChatStore(new SqliteStoreOptions { Path = Path.Combine(_dir, "bench.db") });
        await _store.InitializeAsync(CancellationToken.None);
        await _store.CreateUserAsync(new User("u1", "user1", "x", 0), CancellationToken.None);
        for (var c = 0; c < 8; c++)
        {
            await _store.CreateRoomAsync($"r{c}", "u1", "bench", isPrivate: false, 0, CancellationToken.None);
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark]
    public async Task<int> AppendBatch()
    {
        var batch = new List<AppendRequest>(BatchSize);
        for (var i = 0; i < BatchSize; i++)
        {
            var n = ++_n;
            batch.Add(new AppendRequest($"r{n % 8}", "u1", "user1", $"c{n}", $"m{n}", "a 100-byte body ........................................................................", n, "bench"));
        }

        return (await _store.AppendBatchAsync(batch, CancellationToken.None)).Count;
    }
}
