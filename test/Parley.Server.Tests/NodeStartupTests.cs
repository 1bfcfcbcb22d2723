using System.Reflection;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Memory;
using Parley.Store.Sqlite;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>A node started while its store is unavailable waits for it (bounded) instead of exiting at once.</summary>
[Trait("Tier", "Server")]
public sealed class NodeStartupTests
{
    [Fact]
    public async Task A_node_whose_store_is_unavailable_for_its_first_attempts_starts_once_the_store_answers()
    {
        var (store, flaky) = FlakyStore.Wrap(Sqlite(), failures: 2);
        await using var node = new ParleyNode(store, new InMemoryBus(), new InMemoryPresence(), new ParleyOptions { StoreStartupWaitMs = 30_000 }, NullLoggerFactory.Instance);

        await node.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(3, flaky.InitializeCalls);
    }

    [Fact]
    public async Task A_node_gives_up_once_the_startup_wait_is_over()
    {
        var (store, flaky) = FlakyStore.Wrap(Sqlite(), failures: int.MaxValue);
        await using var node = new ParleyNode(store, new InMemoryBus(), new InMemoryPresence(), new ParleyOptions { StoreStartupWaitMs = 1_000 }, NullLoggerFactory.Instance);

        await Assert.ThrowsAsync<StoreUnavailableException>(() => node.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.InRange(flaky.InitializeCalls, 2, 5);
    }

    [Fact]
    public async Task A_postgres_store_without_a_writer_is_refused_by_name_before_connecting()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ParleyTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Store"] = "postgres",
            ["Postgres"] = "Host=127.0.0.1;Port=1",
            ["PostgresWriters"] = "0",
            ["JwtKey"] = new string('k', 40),
        }));
        Assert.Contains("Parley:PostgresWriters must be at least 1", e.Message, StringComparison.Ordinal);
    }

    private static SqliteChatStore Sqlite() => new(new SqliteStoreOptions { Path = Path.Combine(TestPorts.NewTempDir("startup"), "parley.db") });

    /// <summary>An <see cref="IChatStore"/> whose first <c>InitializeAsync</c> calls fail as unavailable; everything else goes to the real store.</summary>
    public class FlakyStore : StoreInterceptor
    {
        private int _failures;

        public int InitializeCalls { get; private set; }

        public static (IChatStore Store, FlakyStore Flaky) Wrap(IChatStore inner, int failures)
        {
            var (store, flaky) = Wrap<FlakyStore>(inner);
            flaky._failures = failures;
            return (store, flaky);
        }

        protected override object? Intercept(MethodInfo method, object?[]? args)
        {
            if (method.Name != nameof(IChatStore.InitializeAsync))
            {
                return null;
            }

            InitializeCalls++;
            return _failures-- > 0 ? Task.FromException(new StoreUnavailableException("not yet")) : null;
        }
    }
}
