namespace Parley.Memory;

/// <summary>Placeholder single-node presence (replaced by the presence branch).</summary>
public sealed class InMemoryPresence : IPresenceStore
{
    private readonly Dictionary<string, HashSet<string>> _byUser = new(StringComparer.Ordinal);
    private string _node = "";

    /// <inheritdoc />
    public Task StartAsync(IPresenceNode node, CancellationToken ct)
    {
        _node = node.NodeId;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> ConnectAsync(PresenceConnection connection, CancellationToken ct)
    {
        lock (_byUser)
        {
            if (!_byUser.TryGetValue(connection.UserId, out var set))
            {
                _byUser[connection.UserId] = set = [];
            }

            set.Add(connection.ConnectionId);
            return Task.FromResult(set.Count == 1);
        }
    }

    /// <inheritdoc />
    public Task<bool> DisconnectAsync(PresenceConnection connection, CancellationToken ct)
    {
        lock (_byUser)
        {
            if (!_byUser.TryGetValue(connection.UserId, out var set) || !set.Remove(connection.ConnectionId))
            {
                return Task.FromResult(false);
            }

            if (set.Count == 0)
            {
                _byUser.Remove(connection.UserId);
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        lock (_byUser)
        {
            return Task.FromResult<IReadOnlySet<string>>(userIds.Where(_byUser.ContainsKey).ToHashSet());
        }
    }

    /// <inheritdoc />
    public Task<PresenceStats> StatsAsync(CancellationToken ct)
    {
        lock (_byUser)
        {
            var connections = _byUser.Values.Sum(s => s.Count);
            return Task.FromResult(new PresenceStats(_byUser.Count, connections, [new NodeStats(_node, connections)]));
        }
    }

    /// <inheritdoc />
    public Task<bool> PingAsync(CancellationToken ct) => Task.FromResult(true);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
