using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Parley.Presence.Redis.Resp;

namespace Parley.Presence.Redis;

/// <summary>
/// Cluster-wide presence in Redis, for a cluster of Parley nodes (the embedded default is InMemoryPresence).
/// Keys, under <see cref="RedisPresenceOptions.KeyPrefix"/>:
/// <list type="bullet">
/// <item><c>node:{id}</c> — the node's registry entry (string, TTL = NodeTtl), refreshed by its heartbeat.</item>
/// <item><c>conns:{id}</c> — hash connection id → user id of the node's connections; HLEN is its count.</item>
/// <item><c>user:{uid}</c> — set of the user's connections on every node; the user is online while it is not empty.</item>
/// <item><c>online</c> — set of online user ids (counts and OnlineAsync); <c>nodes</c> — set of known node ids.</item>
/// <item><c>sweep:{id}</c> — short lock (SET NX PX) taken by the node that sweeps dead node <c>id</c>.</item>
/// </list>
/// Connect, disconnect and sweeps are Lua scripts, so the script that adds a user's first or removes a user's last
/// connection is the only one that says so: answers and offline reports are exactly-once cluster-wide. Each
/// heartbeat refreshes the node's entry, then sweeps known nodes whose entry expired: the lock keeps the other
/// nodes from repeating the work, the script re-checks the entry is still gone, removes the dead node's connections
/// and returns the users left without any, which this node hands to <see cref="IPresenceNode.OnUsersOfflineAsync"/>.
/// When the heartbeat finds its own entry gone (Redis restarted empty, or the node was paused past its TTL and
/// swept), or after a write of its own failed, it rewrites its entries to exactly
/// <see cref="IPresenceNode.LocalConnections"/>: presence comes back without reconnects, a zombie revives only
/// connections it really holds, and users whose disconnect was lost in an outage go offline (reported to the same
/// callback). Nodes must therefore add a connection to LocalConnections before ConnectAsync and drop it before
/// DisconnectAsync. Every Redis failure surfaces as <see cref="PresenceUnavailableException"/> within
/// <see cref="RedisPresenceOptions.CommandTimeout"/>; the heartbeat survives outages.
/// </summary>
public sealed partial class RedisPresence : IPresenceStore
{
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromMilliseconds(200);

    private readonly RedisPresenceOptions _options;
    private readonly PresenceKeys _keys;
    private readonly RespClient _redis;
    private readonly SharedExclusiveGate _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<IReadOnlyList<string>> _offlineReports =
        Channel.CreateUnbounded<IReadOnlyList<string>>(new UnboundedChannelOptions { SingleReader = true });

    private IPresenceNode? _node;
    private Task _heartbeat = Task.CompletedTask;
    private Task _notifier = Task.CompletedTask;
    private int _disposed;

    /// <summary>Creates the store; nothing connects before <see cref="StartAsync"/>.</summary>
    public RedisPresence(RedisPresenceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Endpoint);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeartbeatInterval, TimeSpan.Zero);
        if (options.NodeTtl <= options.HeartbeatInterval)
        {
            throw new ArgumentException("NodeTtl must be longer than HeartbeatInterval, or live nodes expire between heartbeats", nameof(options));
        }

        _options = options;
        _keys = new PresenceKeys(options.KeyPrefix);
        _redis = new RespClient(options.Endpoint, options.CommandTimeout);
    }

    /// <inheritdoc />
    public async Task StartAsync(IPresenceNode node, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(node);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        if (Interlocked.CompareExchange(ref _node, node, null) is not null)
        {
            throw new InvalidOperationException("the presence store is already started");
        }

        _notifier = Task.Run(NotifyLoopAsync, CancellationToken.None);

        // Register right away when Redis answers, so the node counts from the start; a failure only delays it.
        using (var first = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token))
        {
            first.CancelAfter(_options.CommandTimeout);
            try
            {
                await BeatAsync(node, first.Token);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                Report("first heartbeat", e);
            }
        }

        _heartbeat = Task.Run(HeartbeatLoopAsync, CancellationToken.None);
    }

    /// <inheritdoc />
    public Task<bool> ConnectAsync(PresenceConnection connection, CancellationToken ct) =>
        WriteAsync(PresenceScripts.Connect, connection, ct);

    /// <inheritdoc />
    public Task<bool> DisconnectAsync(PresenceConnection connection, CancellationToken ct) =>
        WriteAsync(PresenceScripts.Disconnect, connection, ct);

    /// <inheritdoc />
    public async Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var asked = userIds.Distinct(StringComparer.Ordinal).ToArray();
        if (asked.Length == 0)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }

        var reply = await CallAsync("online", ct, (started, token) =>
            _redis.ExecuteAsync(["SMISMEMBER", _keys.Online, .. asked], token, TimeLeft(started)));
        var flags = reply.AsArray();
        var online = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < asked.Length; i++)
        {
            if (flags[i].AsInt64() == 1)
            {
                online.Add(asked[i]);
            }
        }

        return online;
    }

    /// <inheritdoc />
    public async Task<PresenceStats> StatsAsync(CancellationToken ct)
    {
        var reply = await CallAsync("stats", ct, (started, token) =>
            _redis.EvalAsync(PresenceScripts.Stats, [_keys.Nodes, _keys.Online], [_keys.Prefix], token, TimeLeft(started)));
        var values = reply.AsArray();
        var nodes = new List<NodeStats>();
        for (var i = 2; i + 1 < values.Count; i += 2)
        {
            nodes.Add(new NodeStats(values[i].AsString()!, (int)values[i + 1].AsInt64()));
        }

        nodes.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return new PresenceStats((int)values[0].AsInt64(), (int)values[1].AsInt64(), nodes);
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken ct)
    {
        try
        {
            var reply = await _redis.ExecuteAsync(["PING"], ct);
            return reply.AsString() == "PONG";
        }
        catch (Exception e) when (e is RedisException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Stops the heartbeat and unregisters the node, so the others sweep what it still held at once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        await _heartbeat;
        _offlineReports.Writer.TryComplete();
        if (!await _notifier.WaitAsync(_options.CommandTimeout).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default))
        {
            Report("dispose", new TimeoutException("OnUsersOfflineAsync did not return in time"));
        }

        if (_node is { } node && !_heartbeatPaused)
        {
            try
            {
                await _redis.ExecuteAsync(["DEL", _keys.Node(node.NodeId)]);
            }
            catch (RedisException)
            {
                // Best effort: without it the others sweep this node one TTL later.
            }
        }

        await _redis.DisposeAsync();
        _stop.Dispose();
    }

    private async Task<bool> WriteAsync(RedisScript script, PresenceConnection connection, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(connection.ConnectionId);
        ArgumentException.ThrowIfNullOrEmpty(connection.UserId);
        var node = _node ?? throw new InvalidOperationException("call StartAsync first");
        var done = false;
        try
        {
            var reply = await CallAsync(script.Name, ct, async (started, token) =>
            {
                using (await _gate.EnterSharedAsync(token))
                {
                    var left = TimeLeft(started);
                    if (left <= TimeSpan.Zero)
                    {
                        throw new RedisTimeoutException("the command timeout passed while this node re-asserted its connections");
                    }

                    try
                    {
                        return await _redis.EvalAsync(
                            script,
                            [_keys.Connections(node.NodeId), _keys.User(connection.UserId), _keys.Online],
                            [node.NodeId, connection.ConnectionId, connection.UserId],
                            token,
                            left);
                    }
                    catch when (script == PresenceScripts.Disconnect)
                    {
                        // The disconnect may have landed, and its answer (did the user go offline?) is lost: the next
                        // reconcile checks the user. Recorded while the gate is held, so no reconcile runs between
                        // the failure and this note; one that ran first would report the user, and this note would
                        // make the next one report them a second time.
                        _unsettledUsers.TryAdd(connection.UserId, 0);
                        _resyncNeeded = true;
                        throw;
                    }
                }
            });
            done = true;
            return reply.AsInt64() == 1;
        }
        finally
        {
            if (!done)
            {
                // The write may or may not have reached Redis (or never left): the next heartbeat rewrites this
                // node's entries from its connections, which already exclude a connection being disconnected.
                _resyncNeeded = true;
            }
        }
    }

    /// <summary>
    /// Runs one Redis call within the command timeout (measured from <c>started</c>, which the call receives) and
    /// maps every Redis failure to PresenceUnavailableException.
    /// </summary>
    private async Task<RespValue> CallAsync(string operation, CancellationToken ct, Func<long, CancellationToken, Task<RespValue>> call)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        var started = Stopwatch.GetTimestamp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);

        // A little later than the client's own timeout, which fires first and also drops a stuck connection.
        deadline.CancelAfter(_options.CommandTimeout + DeadlineGrace);
        try
        {
            return await call(started, deadline.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new PresenceUnavailableException(
                $"presence {operation}: redis at {_options.Endpoint} did not answer within {_options.CommandTimeout.TotalMilliseconds:0} ms", e);
        }
        catch (RedisException e)
        {
            throw new PresenceUnavailableException($"presence {operation}: {e.Message}", e);
        }
    }

    private void Report(string what, Exception error)
    {
        try
        {
            _options.OnBackgroundError?.Invoke($"redis presence {what} failed", error);
        }
        catch (Exception)
        {
            // A failing log hook must not stop the heartbeat.
        }
    }

    private TimeSpan TimeLeft(long started) => _options.CommandTimeout - Stopwatch.GetElapsedTime(started);

    private static string Ms(TimeSpan span) => ((long)span.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
}
