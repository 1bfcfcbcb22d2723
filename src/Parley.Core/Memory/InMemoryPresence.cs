namespace Parley.Memory;

/// <summary>
/// Presence of the embedded single-node default: who is connected to this process. Choose it when one process
/// serves everyone; it shares nothing between processes. One lock makes "first" and "last" answers atomic.
/// </summary>
public sealed class InMemoryPresence : IPresenceStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _userByConnection = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _connectionsByUser = new(StringComparer.Ordinal);
    private string? _nodeId;

    /// <inheritdoc />
    public Task StartAsync(IPresenceNode node, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (Interlocked.CompareExchange(ref _nodeId, node.NodeId, null) is not null)
        {
            throw new InvalidOperationException("the presence store is already started");
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> ConnectAsync(PresenceConnection connection, CancellationToken ct)
    {
        Validate(connection);
        lock (_lock)
        {
            if (!_userByConnection.TryAdd(connection.ConnectionId, connection.UserId))
            {
                return Task.FromResult(false);
            }

            _connectionsByUser.TryGetValue(connection.UserId, out var count);
            _connectionsByUser[connection.UserId] = count + 1;
            return Task.FromResult(count == 0);
        }
    }

    /// <inheritdoc />
    public Task<bool> DisconnectAsync(PresenceConnection connection, CancellationToken ct)
    {
        Validate(connection);
        lock (_lock)
        {
            if (!_userByConnection.TryGetValue(connection.ConnectionId, out var userId) || userId != connection.UserId)
            {
                return Task.FromResult(false);
            }

            _userByConnection.Remove(connection.ConnectionId);
            var left = _connectionsByUser[userId] - 1;
            if (left > 0)
            {
                _connectionsByUser[userId] = left;
                return Task.FromResult(false);
            }

            _connectionsByUser.Remove(userId);
            return Task.FromResult(true);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var online = new HashSet<string>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var id in userIds)
            {
                if (_connectionsByUser.ContainsKey(id))
                {
                    online.Add(id);
                }
            }
        }

        return Task.FromResult<IReadOnlySet<string>>(online);
    }

    /// <inheritdoc />
    public Task<PresenceStats> StatsAsync(CancellationToken ct)
    {
        lock (_lock)
        {
            var connections = _userByConnection.Count;
            NodeStats[] nodes = _nodeId is null ? [] : [new NodeStats(_nodeId, connections)];
            return Task.FromResult(new PresenceStats(_connectionsByUser.Count, connections, nodes));
        }
    }

    /// <inheritdoc />
    public Task<bool> PingAsync(CancellationToken ct) => Task.FromResult(true);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static void Validate(PresenceConnection connection)
    {
        ArgumentException.ThrowIfNullOrEmpty(connection.ConnectionId);
        ArgumentException.ThrowIfNullOrEmpty(connection.UserId);
    }
}
