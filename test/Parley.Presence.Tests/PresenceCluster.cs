using Parley.Presence.Redis;

namespace Parley.Presence.Tests;

/// <summary>Several RedisPresence nodes sharing one Redis under a key prefix of their own, with short test timings.</summary>
internal sealed class PresenceCluster(string endpoint) : IAsyncDisposable
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(200);

    // Short enough for a fast suite, long enough that a loaded 2-core CI machine does not expire live nodes.
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    private readonly List<RedisPresence> _stores = [];
    private readonly string _prefix = $"c{Guid.NewGuid():N}:";

    /// <summary>Starts a node; <paramref name="ttl"/> and <paramref name="commandTimeout"/> override the test defaults.</summary>
    public async Task<(RedisPresence Store, TestNode Node)> StartNodeAsync(string nodeId, TimeSpan? ttl = null, TimeSpan? commandTimeout = null)
    {
        var store = new RedisPresence(new RedisPresenceOptions
        {
            Endpoint = endpoint,
            KeyPrefix = _prefix,
            HeartbeatInterval = Heartbeat,
            NodeTtl = ttl ?? Ttl,
            CommandTimeout = commandTimeout ?? TimeSpan.FromSeconds(2),
        });
        _stores.Add(store);
        var node = new TestNode(nodeId);
        await store.StartAsync(node, CancellationToken.None);
        return (store, node);
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _stores.Count - 1; i >= 0; i--)
        {
            await _stores[i].DisposeAsync();
        }
    }
}
