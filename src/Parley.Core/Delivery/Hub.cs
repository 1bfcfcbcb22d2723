using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Parley.Protocol;

namespace Parley.Delivery;

/// <summary>
/// This node's live side: its sessions, which conversations and users it routes, its bus subscriptions (bound while at
/// least one local session needs them), and the dispatch of bus events to sessions.
/// </summary>
public sealed partial class Hub : IBusHandler, IPresenceNode
{
    /// <summary>A hello's <c>resume</c> entries for conversations not the user's that get an error naming each; the rest are counted in one.</summary>
    public const int ForeignResumesNamed = 100;

    private readonly IChatStore _store;
    private readonly IMessageBus _bus;
    private readonly IPresenceStore _presence;
    private readonly ParleyOptions _options;
    private readonly ILogger<Hub> _log;
    private readonly RouteContext _routeContext;
    private readonly ReadCoalescer<IReadOnlyList<ConversationView>> _conversationReads;
    private readonly ReadCoalescer<long> _headReads;
    private readonly SemaphoreSlim _presenceReads;
    private readonly PresenceOutbox _presenceOutbox;

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConversationRoute> _routes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UserEntry> _users = new(StringComparer.Ordinal);

    // The node's one subscription to events addressed to users; started by the node's start (or the first attach).
    private Task? _usersSubscription;

    // Guards route and user holder counts and the per-topic chains of bus (un)subscriptions.
    private readonly Lock _gate = new();
    private readonly Dictionary<BusTopic, Task> _topicOps = [];

    // Closed connections whose user still counts as online for the presence grace, by session id.
    private readonly ConcurrentDictionary<string, PresenceConnection> _held = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _endHolds = new();
    private readonly TimeSpan _presenceGrace;
    private int _holdsPending;

    // Topics no local session holds any more, still bound until their linger ends (guarded by _gate).
    private readonly HashSet<BusTopic> _lingering = [];

    /// <summary>How often one connection's typing in one conversation is passed on (<see cref="ParleyOptions.TypingIntervalMs"/>).</summary>
    internal int TypingIntervalMs => _options.TypingIntervalMs;

    /// <summary>Most rooms a user may be in (<see cref="ParleyOptions.MaxConversationsPerUser"/>).</summary>
    internal int MaxConversationsPerUser => _options.MaxConversationsPerUser;

    /// <summary>Creates the hub.</summary>
    public Hub(IChatStore store, IMessageBus bus, IPresenceStore presence, ParleyOptions options, ILogger<Hub> log)
    {
        _store = store;
        _bus = bus;
        _presence = presence;
        _options = options;
        _log = log;
        // Hello's reads and the routes' catch-ups are admitted in bounded numbers, so a burst of reconnects queues on
        // this node instead of exhausting the store's connection pool (fault campaign, reconnect-storm).
        var reads = Math.Max(2, options.StoreReadConcurrency);
        _routeContext = new RouteContext(store, log, options.BacklogLimit, new SemaphoreSlim(reads), TimeSpan.FromMilliseconds(Math.Max(0, options.ReorderWaitMs)), new PresenceHold(
                TimeSpan.FromMilliseconds(Math.Max(0, options.PresenceBatchMs)),
                TimeSpan.FromMilliseconds(Math.Clamp(options.PresenceBurstBatchMs, Math.Max(0, options.PresenceBatchMs), 2_000)),
                Math.Max(1, options.PresenceBurstNews)));
        _conversationReads = new ReadCoalescer<IReadOnlyList<ConversationView>>(store.ListConversationsOfUsersAsync, Math.Max(1, reads / 4), 256);
        _headReads = new ReadCoalescer<long>(store.GetLastSeqsAsync, Math.Max(1, reads / 4), 2_000);
        // Presence lookups have their own share: a storm's hundreds of them must not delay the catch-ups before synced.
        _presenceReads = new SemaphoreSlim(Math.Max(1, reads / 4));
        _presenceGrace = TimeSpan.FromMilliseconds(Math.Clamp(options.PresenceOfflineGraceMs, 0, 60_000));
        _presenceOutbox = new PresenceOutbox(TimeSpan.FromMilliseconds(Math.Max(0, options.PresencePublishWindowMs)), PublishPresence, PublishPresence);
    }

    /// <inheritdoc />
    public string NodeId => _options.NodeId;

    /// <summary>Number of live sessions on this node.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Number of distinct users with a session on this node.</summary>
    public int OnlineUserCount
    {
        get
        {
            lock (_gate)
            {
                return _users.Count;
            }
        }
    }

    /// <summary>Number of conversations this node currently routes.</summary>
    public int RouteCount => _routes.Count;

    /// <summary>The sessions of a user on this node.</summary>
    internal IReadOnlyList<Session> SessionsOf(string userId)
    {
        lock (_gate)
        {
            return _users.TryGetValue(userId, out var entry) ? [.. entry.Sessions] : [];
        }
    }

    /// <summary>Creates a session for an authenticated connection. Call <see cref="AttachAsync"/> next.</summary>
    public Session CreateSession(string userId, string username, IFrameSink sink)
    {
        var session = new Session(Ids.New("c", 16), userId, username, sink, _options.HelloBacklogFrames);
        _sessions[session.Id] = session;
        return session;
    }

    /// <summary>
    /// Answers the <paramref name="resume"/> entries for conversations the user is not in with <c>not_found</c>: one error
    /// each for the first <see cref="ForeignResumesNamed"/>, then one error counting the rest, so a client holding many
    /// stale cursors (rooms it was removed from while away) gets a bounded answer instead of overflowing its own
    /// connection's outbound queue, which would close it, and again on every reconnect with the same cursors.
    /// </summary>
    private static void RefuseForeignResumes(Session session, IReadOnlyDictionary<string, long> resume, IReadOnlyList<ConversationView> views)
    {
        var mine = views.Select(v => v.Info.Id).ToHashSet(StringComparer.Ordinal);
        var foreign = 0;
        foreach (var conv in resume.Keys.Where(c => !mine.Contains(c)))
        {
            if (++foreign <= ForeignResumesNamed)
            {
                session.Send(ServerFrames.Error("hello", ErrorCodes.NotFound, $"cannot resume {conv}: no such conversation"));
            }
        }

        if (foreign > ForeignResumesNamed)
        {
            session.Send(ServerFrames.Error("hello", ErrorCodes.NotFound, $"cannot resume {foreign - ForeignResumesNamed} more conversations: not found"));
        }
    }

    /// <summary>
    /// Attaches a session after hello: subscribes it to the user's topic and every conversation of theirs, queues each
    /// conversation's backlog after its cursor (<paramref name="resume"/>, else the delivered watermark), then synced.
    /// Frames the connection queued without a flush before this (its welcome) leave in the same socket write as the
    /// backlog and synced; when the store is slow, the hub's sweep writes them between one and two seconds after the
    /// session was created. Throws <see cref="StoreUnavailableException"/> when the store cannot list the conversations.
    /// </summary>
    public async Task AttachAsync(Session session, IReadOnlyDictionary<string, long>? resume, CancellationToken ct)
    {
        AcquireUser(session);

        // The node's subscription to user events is in effect before the conversations are listed: a conversation
        // gained after the listing arrives as an event (the node subscribes when it starts; complete ever after).
        await SubscribeUserEventsAsync();
        var views = (await _conversationReads.ReadAsync([session.UserId], ct)).GetValueOrDefault(session.UserId) ?? [];
        if (resume is not null)
        {
            RefuseForeignResumes(session, resume, views);
        }

        var added = new List<(ConversationView View, ConversationRoute Route)>(views.Count);
        foreach (var view in views)
        {
            if (TryAddSessionToConversation(session, view.Info.Id, out var route))
            {
                added.Add((view, route));
            }
        }

        await Task.WhenAll(added.Select(a => a.Route.Bound));

        // Read the heads after the bus subscriptions are in effect: anything committed later arrives as an event.
        var heads = added.Count == 0
            ? new Dictionary<string, long>()
            : await _headReads.ReadAsync(added.Select(a => a.View.Info.Id).ToList(), ct);

        var remaining = added.Count + 1;
        void Done()
        {
            if (Interlocked.Decrement(ref remaining) == 0)
            {
                session.MarkSynced();
                session.Send(ServerFrames.Synced());
            }
        }

        foreach (var (view, route) in added)
        {
            var cursor = resume is not null && resume.TryGetValue(view.Info.Id, out var r) ? r : view.DeliveredSeq;
            var head = heads.TryGetValue(view.Info.Id, out var h) ? h : view.Info.LastSeq;
            route.Post(new SubscribeWork(session, cursor, head, Done));
        }

        session.MarkAttached();
        Done();
        // The conversations just read say which of them hear this user's presence: no store read of its own (a reconnect
        // storm's hellos would otherwise make one each).
        var presenceConvs = views
            .Where(v => v.Info.Kind == ConversationKind.Dm || v.Info.MemberCount <= _options.PresenceRoomMaxMembers)
            .Select(v => v.Info.Id)
            .ToArray();
        session.SetPresenceAudience(presenceConvs);
        session.PresenceUpdate = AnnouncePresenceAsync(session, online: true, presenceConvs);
        if (session.IsClosed)
        {
            await DetachAsync(session);
        }
    }

    /// <summary>Detaches a closed session: stops its deliveries, releases subscriptions, updates presence. Idempotent.</summary>
    public async Task DetachAsync(Session session)
    {
        var first = session.MarkClosed();
        foreach (var conv in session.Conversations.Snapshot())
        {
            RemoveSessionFromConversation(session, conv);
        }

        if (!first)
        {
            return;
        }

        _sessions.TryRemove(session.Id, out _);
        ReleaseUser(session);
        // The "offline" update must not overtake this session's own "online" update, or the user would stay online.
        // It goes where the "online" went unless memberships changed since: no store read per disconnect (a storm's
        // thousands of them would queue behind each other, and an "offline" held up by its read could be published
        // after the same user's "online" from a reconnect elsewhere).
        await session.PresenceUpdate;
        // News gathered here about this user leaves before the presence store hears of the close: another node can only
        // have newer news of them once this connection is gone, and it must not arrive before this node's older news.
        foreach (var conv in session.PresenceAnnouncedTo)
        {
            _presenceOutbox.Flush(conv);
        }

        if (_presenceGrace > TimeSpan.Zero && !session.SignedOff)
        {
            // The user stays online for the grace: a connection of theirs back by then (here or on another node) means
            // the presence store never counts them offline, so nobody hears "offline" and then "online" again.
            // Only what the release needs is kept: the closed session's objects are not held for the grace.
            var connection = new PresenceConnection(session.Id, session.UserId);
            Interlocked.Increment(ref _holdsPending);
            _held[session.Id] = connection;
            _ = ReleaseAfterGraceAsync(connection, session.PresenceAudience);
            return;
        }

        await AnnouncePresenceAsync(session, online: false, session.PresenceAudience);
    }

    /// <summary>Ends a closed connection's presence when the grace is over (at once once the node stops).</summary>
    private async Task ReleaseAfterGraceAsync(PresenceConnection connection, IReadOnlyList<string>? audience)
    {
        try
        {
            try
            {
                await Task.Delay(_presenceGrace, _endHolds.Token);
            }
            catch (OperationCanceledException)
            {
            }

            // Out of LocalConnections before the presence store hears of the close (see IPresenceNode).
            _held.TryRemove(connection.ConnectionId, out _);
            await AnnouncePresenceAsync(connection, online: false, audience);
        }
        finally
        {
            Interlocked.Decrement(ref _holdsPending);
        }
    }

    /// <summary>
    /// Ends every closed connection's presence grace at once and waits (up to <paramref name="timeout"/>) until the
    /// presence store has heard of them; connections that close later are not held. Call before the presence store and
    /// the bus stop, so users who do not come back elsewhere are announced offline now rather than at the node's TTL.
    /// </summary>
    public async Task EndPresenceHoldsAsync(TimeSpan timeout)
    {
        await _endHolds.CancelAsync();
        var deadline = DateTime.UtcNow + timeout;
        while (Volatile.Read(ref _holdsPending) > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }

    /// <summary>Subscribes the user's sessions on this node to a conversation they just gained, from <paramref name="cursor"/>.</summary>
    internal Task AddUserToConversationAsync(string userId, string convId, long cursor) =>
        SubscribeSessionsAsync(SessionsOf(userId), convId, cursor);

    private async Task SubscribeSessionsAsync(IEnumerable<Session> sessions, string convId, long cursor)
    {
        var added = new List<(Session Session, ConversationRoute Route)>();
        foreach (var session in sessions)
        {
            session.NoteMembershipChanged();
            if (TryAddSessionToConversation(session, convId, out var route))
            {
                added.Add((session, route));
            }
        }

        if (added.Count == 0)
        {
            return;
        }

        await Task.WhenAll(added.Select(a => a.Route.Bound));
        var head = cursor;
        try
        {
            var heads = await _headReads.ReadAsync([convId], CancellationToken.None);
            head = heads.TryGetValue(convId, out var h) ? h : cursor;
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            _log.LogWarning(e, "reading the head of {Conv} failed; the next head check heals", convId);
        }

        foreach (var (session, route) in added)
        {
            route.Post(new SubscribeWork(session, cursor, head, null));
        }
    }

    private bool TryAddSessionToConversation(Session session, string convId, out ConversationRoute route)
    {
        route = null!;
        if (session.IsClosed || !session.Conversations.TryAdd(convId))
        {
            return false;
        }

        route = AcquireRoute(convId);
        if (session.IsClosed && session.Conversations.TryRemove(convId))
        {
            ReleaseRoute(convId);
            return false;
        }

        return true;
    }

    private void RemoveSessionFromConversation(Session session, string convId)
    {
        if (!session.Conversations.TryRemove(convId))
        {
            return;
        }

        if (_routes.TryGetValue(convId, out var route))
        {
            route.Post(new UnsubscribeWork(session));
        }

        ReleaseRoute(convId);
    }

    /// <summary>Closes every session with 1012 so clients reconnect elsewhere (graceful drain).</summary>
    public void CloseAll(int code, string reason)
    {
        foreach (var session in _sessions.Values)
        {
            session.Close(code, reason);
        }
    }

    /// <inheritdoc />
    /// <remarks>Connections closed within the presence grace are still held here, and so still online.</remarks>
    public IReadOnlyCollection<PresenceConnection> LocalConnections() =>
        _sessions.Values.Where(s => !s.IsClosed).Select(s => new PresenceConnection(s.Id, s.UserId)).Concat(_held.Values).ToList();

    /// <inheritdoc />
    public async Task OnUsersOfflineAsync(IReadOnlyList<string> userIds)
    {
        foreach (var userId in userIds)
        {
            await PublishPresenceAsync(userId, online: false);
        }
    }

    /// <summary>
    /// Updates presence for a session and, when the user's status changed, tells the conversations that hear it:
    /// <paramref name="convs"/> when the caller knows them, else the store's list.
    /// </summary>
    private async Task AnnouncePresenceAsync(Session session, bool online, IReadOnlyList<string>? convs = null)
    {
        await AnnouncePresenceAsync(new PresenceConnection(session.Id, session.UserId), online, convs);
        if (online)
        {
            // Done: the session need not keep this finished task (a detach awaits only one still running).
            session.PresenceUpdate = Task.CompletedTask;
        }
    }

    private async Task AnnouncePresenceAsync(PresenceConnection connection, bool online, IReadOnlyList<string>? convs)
    {
        try
        {
            var changed = online
                ? await _presence.ConnectAsync(connection, CancellationToken.None)
                : await _presence.DisconnectAsync(connection, CancellationToken.None);
            if (changed)
            {
                await PublishPresenceAsync(connection.UserId, online, convs);
            }
        }
        catch (Exception e) when (e is PresenceUnavailableException or StoreUnavailableException or TimeoutException)
        {
            _log.LogDebug(e, "presence update for {User} skipped", connection.UserId);
        }
        catch (Exception e)
        {
            // Presence is best effort; it must never fail a connection's attach or detach.
            _log.LogWarning(e, "presence update for {User} failed", connection.UserId);
        }
    }

    private async Task PublishPresenceAsync(string userId, bool online, IReadOnlyList<string>? known = null)
    {
        var convs = known;
        if (convs is null)
        {
            await _presenceReads.WaitAsync();
            try
            {
                convs = await _store.ListPresenceConversationsAsync(userId, _options.PresenceRoomMaxMembers, CancellationToken.None);
            }
            finally
            {
                _presenceReads.Release();
            }
        }

        foreach (var conv in convs)
        {
            _presenceOutbox.Add(conv, new PresenceNews(userId, online));
        }
    }

    private void PublishPresence(string conv, PresenceNews news) =>
        Publish(BusTopic.ForConversation(conv), new BusEvent(BusEventKind.Presence, conv, news.Online ? 1 : 0, news.UserId, NodeId, ServerFrames.Presence(news.UserId, news.Online)));

    private void PublishPresence(string conv, IReadOnlyList<PresenceNews> batch) =>
        Publish(BusTopic.ForConversation(conv), new BusEvent(BusEventKind.PresenceBatch, conv, 0, "", NodeId, PresenceNews.Encode(batch)));

    /// <summary>Publishes an event on the bus (delivered to this node too).</summary>
    public void Publish(BusTopic topic, BusEvent evt)
    {
        if (!_bus.Publish(topic, evt))
        {
            _log.LogDebug("bus dropped a {Kind} event for {Topic}", evt.Kind, topic);
        }
    }

    /// <summary>A user's sessions on this node (changed under the hub's gate).</summary>
    private sealed class UserEntry
    {
        /// <summary>Exactly the sessions, replaced on change: most users have one or two, so no list with spare room is kept.</summary>
        public Session[] Sessions { get; private set; } = [];

        public void Add(Session session) => Sessions = [.. Sessions, session];

        /// <summary>False when <paramref name="session"/> was not there.</summary>
        public bool Remove(Session session)
        {
            if (Array.IndexOf(Sessions, session) < 0)
            {
                return false;
            }

            Sessions = Sessions.Where(s => s != session).ToArray();
            return true;
        }
    }
}
