using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Parley.Presence.Tests;

/// <summary>
/// A stand-in for a Parley node: it holds "local" connections the way the hub would (added before ConnectAsync,
/// dropped before DisconnectAsync) and records every offline report it receives.
/// </summary>
internal sealed class TestNode(string nodeId) : IPresenceNode
{
    private readonly ConcurrentDictionary<string, PresenceConnection> _local = new(StringComparer.Ordinal);
    private readonly Channel<IReadOnlyList<string>> _reports = Channel.CreateUnbounded<IReadOnlyList<string>>();
    private readonly ConcurrentQueue<IReadOnlyList<string>> _allReports = new();

    public string NodeId { get; } = nodeId;

    /// <summary>Every offline report received so far.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Reports => _allReports.ToArray();

    /// <summary>All users reported offline so far, with repeats.</summary>
    public IReadOnlyList<string> ReportedUsers => _allReports.SelectMany(r => r).ToArray();

    public IReadOnlyCollection<PresenceConnection> LocalConnections() => _local.Values.ToArray();

    public Task OnUsersOfflineAsync(IReadOnlyList<string> userIds)
    {
        _allReports.Enqueue(userIds);
        _reports.Writer.TryWrite(userIds);
        return Task.CompletedTask;
    }

    /// <summary>Holds the connection locally, then registers it, as a node does.</summary>
    public async Task<bool> ConnectAsync(IPresenceStore store, string connectionId, string userId)
    {
        var connection = new PresenceConnection(connectionId, userId);
        _local[connectionId] = connection;
        return await store.ConnectAsync(connection, CancellationToken.None);
    }

    /// <summary>Drops the connection locally, then unregisters it, as a node does.</summary>
    public async Task<bool> DisconnectAsync(IPresenceStore store, string connectionId, string userId)
    {
        _local.TryRemove(connectionId, out _);
        return await store.DisconnectAsync(new PresenceConnection(connectionId, userId), CancellationToken.None);
    }

    /// <summary>Forgets a connection locally without telling presence (the socket died while presence was unreachable).</summary>
    public void DropLocally(string connectionId) => _local.TryRemove(connectionId, out _);

    /// <summary>Waits for the next offline report, or fails after <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<string>> NextReportAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _reports.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"node {NodeId} got no offline report within {timeout.TotalMilliseconds:0} ms");
        }
    }
}
