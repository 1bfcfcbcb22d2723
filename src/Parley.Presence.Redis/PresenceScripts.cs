using Parley.Presence.Redis.Resp;

namespace Parley.Presence.Redis;

/// <summary>
/// The Lua scripts behind <see cref="RedisPresence"/>. Each runs atomically in Redis, which is what makes "first"
/// and "last" answers and dead-node sweeps exactly-once: whichever script removes a user's last connection is the
/// only one that reports the user offline. Scripts build per-user key names from the prefix (ARGV), so they assume
/// one Redis primary, not Redis Cluster.
/// </summary>
internal static class PresenceScripts
{
    // A user's set holds "<length of node id>:<node id>:<connection id>": unambiguous whatever the ids contain.
    private const string Prelude = """
        local function member(node, conn) return #node .. ':' .. node .. ':' .. conn end

        """;

    /// <summary>
    /// KEYS: conns, user, online. ARGV: node, conn, user. Returns 1 when this is the user's first connection; a
    /// connection id already held by another user is ignored.
    /// </summary>
    public static readonly RedisScript Connect = new("connect", Prelude + """
        local owner = redis.call('HGET', KEYS[1], ARGV[2])
        if owner and owner ~= ARGV[3] then return 0 end
        redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
        if redis.call('SADD', KEYS[2], member(ARGV[1], ARGV[2])) == 1 and redis.call('SCARD', KEYS[2]) == 1 then
          redis.call('SADD', KEYS[3], ARGV[3])
          return 1
        end
        return 0
        """);

    /// <summary>KEYS: conns, user, online. ARGV: node, conn, user. Returns 1 when that was the user's last connection.</summary>
    public static readonly RedisScript Disconnect = new("disconnect", Prelude + """
        if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then redis.call('HDEL', KEYS[1], ARGV[2]) end
        if redis.call('SREM', KEYS[2], member(ARGV[1], ARGV[2])) == 1 and redis.call('SCARD', KEYS[2]) == 0 then
          redis.call('SREM', KEYS[3], ARGV[3])
          return 1
        end
        return 0
        """);

    /// <summary>KEYS: node registry, nodes. ARGV: node, ttl ms. Refreshes a registry entry that still exists; 0 when it is gone.</summary>
    public static readonly RedisScript Heartbeat = new("heartbeat", """
        if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then
          redis.call('SADD', KEYS[2], ARGV[1])
          return 1
        end
        return 0
        """);

    /// <summary>
    /// KEYS: node registry, conns, nodes, online. ARGV: node, ttl ms, prefix, k, k user ids to check, then
    /// connection/user pairs. Makes the node's entries exactly the given connections, registers the node, and
    /// returns the users whose last connection it removed plus the checked users who have no connection left.
    /// </summary>
    public static readonly RedisScript Reconcile = new("reconcile", Prelude + """
        local node, prefix, checks = ARGV[1], ARGV[3], tonumber(ARGV[4])
        local want = {}
        for i = 5 + checks, #ARGV, 2 do want[ARGV[i]] = ARGV[i + 1] end
        local gone = {}
        local current = redis.call('HGETALL', KEYS[2])
        for i = 1, #current, 2 do
          local conn, user = current[i], current[i + 1]
          if want[conn] ~= user then
            redis.call('HDEL', KEYS[2], conn)
            local userKey = prefix .. 'user:' .. user
            if redis.call('SREM', userKey, member(node, conn)) == 1 and redis.call('SCARD', userKey) == 0 then
              gone[user] = true
            end
          end
        end
        for conn, user in pairs(want) do
          redis.call('HSET', KEYS[2], conn, user)
          redis.call('SADD', prefix .. 'user:' .. user, member(node, conn))
          redis.call('SADD', KEYS[4], user)
          gone[user] = nil
        end
        for i = 5, 4 + checks do
          if redis.call('SCARD', prefix .. 'user:' .. ARGV[i]) == 0 then gone[ARGV[i]] = true end
        end
        local offline = {}
        for user in pairs(gone) do
          redis.call('SREM', KEYS[4], user)
          offline[#offline + 1] = user
        end
        redis.call('SET', KEYS[1], node, 'PX', ARGV[2])
        redis.call('SADD', KEYS[3], node)
        return offline
        """);

    /// <summary>KEYS: nodes. ARGV: prefix. Returns the known nodes whose registry entry expired.</summary>
    public static readonly RedisScript DeadNodes = new("dead-nodes", """
        local dead = {}
        for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then dead[#dead + 1] = node end
        end
        return dead
        """);

    /// <summary>
    /// KEYS: dead node's registry, its conns, nodes, online, sweep lock. ARGV: node, prefix. Removes a node that is
    /// still unregistered and returns the users who lost their last connection with it.
    /// </summary>
    public static readonly RedisScript Sweep = new("sweep", Prelude + """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          redis.call('DEL', KEYS[5])
          return {}
        end
        local offline = {}
        local entries = redis.call('HGETALL', KEYS[2])
        for i = 1, #entries, 2 do
          local conn, user = entries[i], entries[i + 1]
          local userKey = ARGV[2] .. 'user:' .. user
          if redis.call('SREM', userKey, member(ARGV[1], conn)) == 1 and redis.call('SCARD', userKey) == 0 then
            redis.call('SREM', KEYS[4], user)
            offline[#offline + 1] = user
          end
        end
        redis.call('DEL', KEYS[2], KEYS[5])
        redis.call('SREM', KEYS[3], ARGV[1])
        return offline
        """);

    /// <summary>KEYS: nodes, online. ARGV: prefix. Returns online users, total connections, then id/count pairs of live nodes.</summary>
    public static readonly RedisScript Stats = new("stats", """
        local result = { redis.call('SCARD', KEYS[2]), 0 }
        local total = 0
        for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 1 then
            local n = redis.call('HLEN', ARGV[1] .. 'conns:' .. node)
            total = total + n
            result[#result + 1] = node
            result[#result + 1] = n
          end
        end
        result[2] = total
        return result
        """);

    /// <summary>Every script, for loading them up front.</summary>
    public static IReadOnlyList<RedisScript> All { get; } = [Connect, Disconnect, Heartbeat, Reconcile, DeadNodes, Sweep, Stats];
}
