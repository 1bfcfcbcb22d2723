using Parley.Presence.Redis;
using Xunit;

namespace Parley.Presence.Tests;

/// <summary>The presence contract against Redis: one real redis-server, a fresh key prefix per test.</summary>
[Trait("Tier", "Presence")]
public sealed class RedisPresenceTests(RedisServerFixture redis) : PresenceContractTests, IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = $"t{Guid.NewGuid():N}:";

    protected override IPresenceStore CreateStore() => new RedisPresence(new RedisPresenceOptions
    {
        Endpoint = redis.Server.Endpoint,
        KeyPrefix = _prefix,
        HeartbeatInterval = PresenceCluster.Heartbeat,
        NodeTtl = PresenceCluster.Ttl,
    });
}
