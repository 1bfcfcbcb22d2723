using Parley.Bus.RabbitMq;
using Parley.Memory;
using Parley.Presence.Redis;
using Parley.Store.Postgres;
using Parley.Store.Sqlite;

namespace Parley.Server.Hosting;

/// <summary>Chooses the store, bus and presence implementations named by configuration.</summary>
internal static class Backends
{
    public static IChatStore CreateStore(ServerSettings s) => s.Store.ToLowerInvariant() switch
    {
        "sqlite" => new SqliteChatStore(new SqliteStoreOptions { Path = s.SqlitePath }),
        "postgres" => CreatePostgres(s),
        _ => throw new InvalidOperationException($"Parley:Store must be 'sqlite' or 'postgres', not '{s.Store}'"),
    };

    private static PostgresChatStore CreatePostgres(ServerSettings s)
    {
        // Npgsql cancels a timed-out statement synchronously: it opens another connection and blocks a pool thread
        // until the server closes it, which against a silently partitioned database lasts until the partition heals.
        // With the pool's default minimum (one thread per core) each such block stalled the node's other work for the
        // pool's slow thread injection, and sends were answered over a second after their 4 s deadline (fault
        // campaign, cutoff-postgres). The minimum covers as many blocked threads as the store runs statements at once.
        if (s.PostgresWriters < 1)
        {
            throw new InvalidOperationException($"Parley:PostgresWriters must be at least 1, not {s.PostgresWriters}");
        }

        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), io);
        return new PostgresChatStore(new PostgresStoreOptions { ConnectionString = Required(s.Postgres, "Parley:Postgres"), MaxConcurrentAppends = s.PostgresWriters });
    }

    public static IMessageBus CreateBus(ServerSettings s, string nodeId, ILoggerFactory logs) => s.Bus.ToLowerInvariant() switch
    {
        "memory" => new InMemoryBus(),
        "rabbitmq" => new RabbitMqBus(new RabbitMqBusOptions { Uri = Required(s.RabbitMq, "Parley:RabbitMq"), NodeId = nodeId }, logs.CreateLogger<RabbitMqBus>()),
        _ => throw new InvalidOperationException($"Parley:Bus must be 'memory' or 'rabbitmq', not '{s.Bus}'"),
    };

    public static IPresenceStore CreatePresence(ServerSettings s, ILoggerFactory logs) => s.Presence.ToLowerInvariant() switch
    {
        "memory" => new InMemoryPresence(),
        "redis" => new RedisPresence(new RedisPresenceOptions
        {
            Endpoint = Required(s.Redis, "Parley:Redis"),
            HeartbeatInterval = TimeSpan.FromMilliseconds(s.PresenceHeartbeatMs),
            NodeTtl = TimeSpan.FromMilliseconds(s.PresenceTtlMs),
            KeyPrefix = s.RedisKeyPrefix,
            OnBackgroundError = (what, e) => logs.CreateLogger<RedisPresence>().LogWarning(e, "presence: {What}", what),
        }),
        _ => throw new InvalidOperationException($"Parley:Presence must be 'memory' or 'redis', not '{s.Presence}'"),
    };

    private static string Required(string value, string key) =>
        string.IsNullOrWhiteSpace(value) ? throw new InvalidOperationException($"{key} is required") : value;
}
