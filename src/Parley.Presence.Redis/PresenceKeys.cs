namespace Parley.Presence.Redis;

/// <summary>The Redis key names of one cluster; see <see cref="RedisPresence"/> for what each holds.</summary>
internal sealed class PresenceKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    /// <summary>Set of every node id that registered and has not been swept.</summary>
    public string Nodes { get; } = prefix + "nodes";

    /// <summary>Set of the user ids with at least one live connection.</summary>
    public string Online { get; } = prefix + "online";

    /// <summary>A node's registry entry; it exists while the node heartbeats (expires after the TTL).</summary>
    public string Node(string nodeId) => Prefix + "node:" + nodeId;

    /// <summary>Hash connection id → user id of one node's connections.</summary>
    public string Connections(string nodeId) => Prefix + "conns:" + nodeId;

    /// <summary>Set of one user's connections across the cluster.</summary>
    public string User(string userId) => Prefix + "user:" + userId;

    /// <summary>Short lock held by the node that sweeps a dead node.</summary>
    public string Sweep(string nodeId) => Prefix + "sweep:" + nodeId;
}
