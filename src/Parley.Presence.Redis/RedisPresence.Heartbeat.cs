using System.Collections.Concurrent;
using System.Globalization;
using Parley.Presence.Redis.Resp;

namespace Parley.Presence.Redis;

/// <summary>The heartbeat: registry refresh, re-assertion of this node's connections, and dead-node sweeps.</summary>
public sealed partial class RedisPresence
{
    // True until the first successful reconcile, and again after any write that may not have landed.
    private volatile bool _resyncNeeded = true;
    private volatile bool _heartbeatPaused;

    // Users whose disconnect failed: nobody was told whether they went offline, so the next reconcile checks them
    // and reports those left without connections (at least once: a node that disconnected them too may also have).
    private readonly ConcurrentDictionary<string, byte> _unsettledUsers = new(StringComparer.Ordinal);

    /// <summary>Stops heartbeats as a frozen or crashed node would (tests: node death, zombies).</summary>
    internal void PauseHeartbeat() => _heartbeatPaused = true;

    /// <summary>Resumes heartbeats after <see cref="PauseHeartbeat"/>.</summary>
    internal void ResumeHeartbeat() => _heartbeatPaused = false;

    private async Task HeartbeatLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                if (_heartbeatPaused)
                {
                    continue;
                }

                try
                {
                    await BeatAsync(_node!, _stop.Token);
                }
                catch (Exception e)
                {
                    // Outages are expected: the loop lives on and the next beat retries (and re-asserts if needed).
                    if (!_stop.IsCancellationRequested)
                    {
                        Report("heartbeat", e);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task BeatAsync(IPresenceNode node, CancellationToken ct)
    {
        if (_resyncNeeded || !await RefreshAsync(node, ct))
        {
            await ReconcileAsync(node, ct);
        }

        await SweepDeadNodesAsync(node, ct);
    }

    private async Task<bool> RefreshAsync(IPresenceNode node, CancellationToken ct)
    {
        var reply = await _redis.EvalAsync(
            PresenceScripts.Heartbeat, [_keys.Node(node.NodeId), _keys.Nodes], [node.NodeId, Ms(_options.NodeTtl)], ct);
        return reply.AsInt64() == 1;
    }

    /// <summary>Makes this node's entries in Redis exactly its local connections, and registers the node.</summary>
    private async Task ReconcileAsync(IPresenceNode node, CancellationToken ct)
    {
        IReadOnlyList<RespValue> offline;
        using (await _gate.EnterExclusiveAsync(ct))
        {
            // Cleared before the snapshot: a write failing from now on sets it again for the next beat.
            _resyncNeeded = false;
            var unsettled = TakeUnsettledUsers();
            try
            {
                var local = node.LocalConnections();
                var args = new List<string>(4 + unsettled.Count + (2 * local.Count))
                {
                    node.NodeId, Ms(_options.NodeTtl), _keys.Prefix, unsettled.Count.ToString(CultureInfo.InvariantCulture),
                };
                args.AddRange(unsettled);
                foreach (var c in local)
                {
                    args.Add(c.ConnectionId);
                    args.Add(c.UserId);
                }

                var reply = await _redis.EvalAsync(
                    PresenceScripts.Reconcile,
                    [_keys.Node(node.NodeId), _keys.Connections(node.NodeId), _keys.Nodes, _keys.Online],
                    args,
                    ct);
                offline = reply.AsArray();
            }
            catch
            {
                _resyncNeeded = true;
                foreach (var user in unsettled)
                {
                    _unsettledUsers.TryAdd(user, 0);
                }

                throw;
            }
        }

        Announce(offline);
    }

    private List<string> TakeUnsettledUsers()
    {
        var users = new List<string>();
        foreach (var user in _unsettledUsers.Keys)
        {
            if (_unsettledUsers.TryRemove(user, out _))
            {
                users.Add(user);
            }
        }

        return users;
    }

    private async Task SweepDeadNodesAsync(IPresenceNode node, CancellationToken ct)
    {
        var dead = await _redis.EvalAsync(PresenceScripts.DeadNodes, [_keys.Nodes], [_keys.Prefix], ct);
        foreach (var entry in dead.AsArray())
        {
            var deadId = entry.AsString()!;
            if (deadId == node.NodeId)
            {
                continue;
            }

            var locked = await _redis.ExecuteAsync(["SET", _keys.Sweep(deadId), node.NodeId, "NX", "PX", Ms(_options.NodeTtl)], ct);
            if (locked.IsNull)
            {
                continue;
            }

            var offline = await _redis.EvalAsync(
                PresenceScripts.Sweep,
                [_keys.Node(deadId), _keys.Connections(deadId), _keys.Nodes, _keys.Online, _keys.Sweep(deadId)],
                [deadId, _keys.Prefix],
                ct);
            Announce(offline.AsArray());
        }
    }

    private void Announce(IReadOnlyList<RespValue> users)
    {
        if (users.Count > 0)
        {
            _offlineReports.Writer.TryWrite(users.Select(u => u.AsString()!).ToArray());
        }
    }

    /// <summary>Hands offline reports to the node one at a time, so a slow callback never delays a heartbeat.</summary>
    private async Task NotifyLoopAsync()
    {
        await foreach (var users in _offlineReports.Reader.ReadAllAsync())
        {
            try
            {
                await _node!.OnUsersOfflineAsync(users);
            }
            catch (Exception e)
            {
                Report("OnUsersOfflineAsync", e);
            }
        }
    }
}
