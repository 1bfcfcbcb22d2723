namespace Parley;

/// <summary>One live connection as the node that holds it reports it.</summary>
public readonly record struct PresenceConnection(string ConnectionId, string UserId);

/// <summary>One node's entry in the cluster registry.</summary>
public sealed record NodeStats(string Id, int Connections);

/// <summary>Cluster-wide counts for <c>/api/v1/stats</c>.</summary>
public sealed record PresenceStats(int OnlineUsers, int Connections, IReadOnlyList<NodeStats> Nodes);

/// <summary>What the presence backend needs from the node that runs it.</summary>
public interface IPresenceNode
{
    /// <summary>This node's id.</summary>
    string NodeId { get; }

    /// <summary>A snapshot of this node's live connections, used to re-assert them after the backend lost its state.</summary>
    IReadOnlyCollection<PresenceConnection> LocalConnections();

    /// <summary>
    /// Users found offline because the node that held their last connections died (its registry entry expired).
    /// Called on one surviving node, which then announces them offline.
    /// </summary>
    Task OnUsersOfflineAsync(IReadOnlyList<string> userIds);
}

/// <summary>
/// Who is online, on which node, and how many. A best-effort view: when its backend is down, calls throw
/// <see cref="PresenceUnavailableException"/> and messaging carries on without it.
/// </summary>
/// <remarks>
/// Guarantees: a connection registered with <see cref="ConnectAsync"/> counts as online until
/// <see cref="DisconnectAsync"/> or until its node stops refreshing it (node death), at the latest one TTL later.
/// "First" and "last" answers are atomic: of two concurrent first connections of a user exactly one is told
/// it is the first. Every implementation passes the shared presence contract suite.
/// </remarks>
public interface IPresenceStore : IAsyncDisposable
{
    /// <summary>Registers the node and starts its heartbeat. Does not fail when the backend is down.</summary>
    Task StartAsync(IPresenceNode node, CancellationToken ct);

    /// <summary>Registers a connection; true when it is the user's first connection anywhere (they came online).</summary>
    Task<bool> ConnectAsync(PresenceConnection connection, CancellationToken ct);

    /// <summary>Removes a connection; true when the user has no connection left anywhere (they went offline).</summary>
    Task<bool> DisconnectAsync(PresenceConnection connection, CancellationToken ct);

    /// <summary>The subset of <paramref name="userIds"/> that is online.</summary>
    Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>Cluster-wide online users, connections and live nodes.</summary>
    Task<PresenceStats> StatsAsync(CancellationToken ct);

    /// <summary>True when the backend answers within the token's deadline.</summary>
    Task<bool> PingAsync(CancellationToken ct);
}

/// <summary>The presence backend cannot be reached. Presence is then unknown; nothing else is affected.</summary>
public sealed class PresenceUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PresenceUnavailableException(string message, Exception? inner) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public PresenceUnavailableException() : base("presence is unavailable") { }

    /// <summary>Creates the exception.</summary>
    public PresenceUnavailableException(string message) : base(message) { }
}
