using Microsoft.Extensions.Logging;
using Parley.Protocol;

namespace Parley.Delivery;

/// <summary>
/// Delivery of one conversation to this node's connections. Work for the conversation runs one item at a time
/// (an actor), so each connection's cursor — the last seq it was sent — moves in order without locks.
/// </summary>
/// <remarks>
/// The store is the record and the bus a hint: a message event is written to a connection only when it is exactly the
/// next seq for that connection; a connection that is behind is first caught up from the store, and an event it
/// already has is dropped. So each connection sees every seq once, in order, whatever the bus loses or reorders.
/// An event that arrives ahead of a missing seq is held for up to <see cref="RouteContext.ReorderWait"/>: two nodes
/// committing to one conversation publish in an order the broker does not keep, and the missing event usually follows
/// within a millisecond or two, so the hold saves a store read per reordering; only a gap that outlives it is read.
/// </remarks>
internal sealed class ConversationRoute
{
    private const int MaxCatchUpMessages = 1_000;

    // Most events held while waiting for a missing seq; more than this and the gap is read from the store at once.
    private const int MaxEarly = 256;

    // Most queued deliveries handled in one pass, their frames leaving each connection in one write.
    private const int MaxDeliveryBatch = 64;

    // Newest frames kept for catch-ups from memory: at most this many, and at most this many bytes.
    private const int RecentCapacity = 64;
    private const int RecentMaxBytes = 64 * 1024;

    private readonly RouteContext _ctx;
    private readonly List<Subscription> _subs = [];
    private readonly Queue<RouteWork> _queue = new();
    private readonly SortedList<long, ReadOnlyMemory<byte>> _early = [];
    private readonly RecentFrames _recent = new(RecentCapacity, RecentMaxBytes);
    private bool _running;
    private bool _corked;
    private bool _gapTimerArmed;
    private List<BroadcastWork>? _presenceHeld;
    private bool _presenceBurst;
    private long _maxSeen;

    public ConversationRoute(string convId, RouteContext ctx)
    {
        ConvId = convId;
        _ctx = ctx;
    }

    public string ConvId { get; }

    /// <summary>Sessions holding this route (guarded by the hub's route lock).</summary>
    public int Holders { get; set; }

    /// <summary>Completes when the node's bus subscription for this conversation is in effect.</summary>
    public Task Bound { get; set; } = Task.CompletedTask;

    public void Post(RouteWork work)
    {
        lock (_queue)
        {
            _queue.Enqueue(work);
            if (_running)
            {
                return;
            }

            _running = true;
        }

        _ = Task.Run(RunAsync);
    }

    private async Task RunAsync()
    {
        while (true)
        {
            RouteWork work;
            List<SubscribeWork>? subscribes = null;
            List<RouteWork>? deferred = null;
            List<RouteWork>? deliveries = null;
            lock (_queue)
            {
                if (!_queue.TryDequeue(out work!))
                {
                    _running = false;
                    return;
                }

                // Sessions subscribing together (a room's members reconnecting, say) share one catch-up read. The
                // broadcasts queued among them (those members' own presence news) wait until after it, in their order.
                if (work is SubscribeWork first)
                {
                    while (_queue.TryPeek(out var next) && next is SubscribeWork or BroadcastWork)
                    {
                        _queue.Dequeue();
                        if (next is SubscribeWork another)
                        {
                            (subscribes ??= [first]).Add(another);
                        }
                        else
                        {
                            (deferred ??= []).Add(next);
                        }
                    }

                    if (subscribes is null && deferred is not null)
                    {
                        subscribes = [first];
                    }
                }
                else if (IsDelivery(work))
                {
                    // Deliveries queued behind each other (a burst of messages or presence news) are written to each
                    // connection together: one socket write per connection instead of one per frame.
                    while (_queue.TryPeek(out var next) && IsDelivery(next) && (deliveries?.Count ?? 1) < MaxDeliveryBatch)
                    {
                        (deliveries ??= [work]).Add(_queue.Dequeue());
                    }
                }
            }

            try
            {
                if (subscribes is not null)
                {
                    await OnSubscribeManyAsync(subscribes);
                    await DeliverBatchAsync(deferred ?? []);
                }
                else if (deliveries is not null)
                {
                    await DeliverBatchAsync(deliveries);
                }
                else
                {
                    await ProcessAsync(work);
                }

                // A catch-up, a new subscription or a departure may have made held events next in line.
                if (_early.Count > 0)
                {
                    DeliverEarly();
                }
            }
            catch (Exception e)
            {
                _ctx.Log.LogError(e, "delivery work for {Conv} failed", ConvId);
            }
        }
    }

    private static bool IsDelivery(RouteWork work) => work is MessageWork or BroadcastWork;

    /// <summary>
    /// Processes deliveries with each connection's frames held back until the end of the batch (or until one of them
    /// has to wait for the store), then starts each connection's write.
    /// </summary>
    private async Task DeliverBatchAsync(List<RouteWork> works)
    {
        _corked = true;
        try
        {
            foreach (var work in works)
            {
                var task = ProcessAsync(work);
                if (!task.IsCompleted)
                {
                    // A catch-up from the store: what was queued so far leaves now, not after the read.
                    Uncork();
                    await task;
                    _corked = true;
                }
                else
                {
                    await task;
                }
            }
        }
        finally
        {
            Uncork();
        }
    }

    /// <summary>Sends a frame now, or, inside <see cref="DeliverBatchAsync"/>, queues it for the batch's end.</summary>
    private void Emit(Session session, ReadOnlyMemory<byte> frame)
    {
        if (_corked)
        {
            session.Queue(frame);
        }
        else
        {
            session.Send(frame);
        }
    }

    private void Uncork()
    {
        if (!_corked)
        {
            return;
        }

        _corked = false;
        foreach (var sub in _subs)
        {
            sub.Session.Flush();
        }
    }

    private Task ProcessAsync(RouteWork work)
    {
        switch (work)
        {
            case MessageWork m:
                return OnMessageAsync(m.Seq, m.Frame);
            case HeadWork h:
                return OnHeadAsync(h.LastSeq);
            case GapTimeoutWork:
                return OnGapTimeoutAsync();
            case SubscribeWork s:
                return OnSubscribeAsync(s);
            case UnsubscribeWork u:
                _subs.RemoveAll(x => x.Session == u.Session);
                return Task.CompletedTask;
            case BroadcastWork { PresenceOnline: not null } p when _ctx.PresenceHold.Normal > TimeSpan.Zero:
                HoldPresence(p);
                return Task.CompletedTask;
            case BroadcastWork b:
                Broadcast(b);
                return Task.CompletedTask;
            case PresenceDueWork:
                WritePresence();
                return Task.CompletedTask;
            case MemberLeftWork left:
                OnMemberLeft(left);
                return Task.CompletedTask;
            default:
                return Task.CompletedTask;
        }
    }

    private async Task OnMessageAsync(long seq, ReadOnlyMemory<byte> frame)
    {
        _maxSeen = Math.Max(_maxSeen, seq);
        _recent.Add(seq, frame);
        if (Deliver(seq, frame))
        {
            return;
        }

        // Some connection misses an earlier seq: hold this event a moment for it (see remarks).
        if (_ctx.ReorderWait > TimeSpan.Zero && (_early.Count < MaxEarly || _early.ContainsKey(seq)))
        {
            _early[seq] = frame;
            ArmGapTimer();
            return;
        }

        await CatchUpEarlyAsync(seq);
    }

    /// <summary>
    /// Writes <paramref name="frame"/> to every connection for which <paramref name="seq"/> is the next seq. False when
    /// some connection is further behind (it needs an earlier seq first).
    /// </summary>
    private bool Deliver(long seq, ReadOnlyMemory<byte> frame)
    {
        var inOrder = true;
        foreach (var sub in _subs)
        {
            if (sub.Cursor >= seq)
            {
                continue;
            }

            if (sub.Cursor == seq - 1)
            {
                Emit(sub.Session, frame);
                sub.Cursor = seq;
            }
            else
            {
                inOrder = false;
            }
        }

        return inOrder;
    }

    /// <summary>Delivers held events that are now next in line; drops those every connection has.</summary>
    private void DeliverEarly()
    {
        var gap = false;
        while (_early.Count > 0 && !gap)
        {
            var seq = _early.Keys[0];
            gap = !Deliver(seq, _early.Values[0]);
            if (!gap)
            {
                _early.RemoveAt(0);
            }
        }
    }

    private void ArmGapTimer()
    {
        if (_gapTimerArmed)
        {
            return;
        }

        _gapTimerArmed = true;
        _ = Task.Delay(_ctx.ReorderWait).ContinueWith(static (_, state) => ((ConversationRoute)state!).Post(GapTimeoutWork.Instance), this, TaskScheduler.Default);
    }

    /// <summary>The hold ended: whatever is still missing comes from the store.</summary>
    private async Task OnGapTimeoutAsync()
    {
        _gapTimerArmed = false;
        if (_early.Count > 0)
        {
            await CatchUpEarlyAsync(_early.Keys[^1]);
        }
    }

    /// <summary>Reads every connection up to <paramref name="target"/> from the store; held events up to it are then redundant.</summary>
    private async Task CatchUpEarlyAsync(long target)
    {
        var behind = _subs.Where(s => s.Cursor < target).ToList();
        if (behind.Count > 0)
        {
            await CatchUpAsync(behind, target);
        }

        while (_early.Count > 0 && _early.Keys[0] <= target)
        {
            _early.RemoveAt(0);
        }

        if (_early.Count > 0)
        {
            DeliverEarly();
            if (_early.Count > 0)
            {
                ArmGapTimer();
            }
        }
    }

    private async Task OnHeadAsync(long lastSeq)
    {
        _maxSeen = Math.Max(_maxSeen, lastSeq);
        var behind = _subs.Where(s => s.Cursor < lastSeq).ToList();
        if (behind.Count > 0)
        {
            await CatchUpAsync(behind, lastSeq);
        }
    }

    private async Task OnSubscribeAsync(SubscribeWork work)
    {
        try
        {
            // A session that no longer holds the conversation (it left, or closed) while this work was queued is skipped.
            if (work.Session.IsClosed || !work.Session.Conversations.Contains(ConvId) || _subs.Exists(s => s.Session == work.Session))
            {
                return;
            }

            var head = Math.Max(work.KnownLastSeq, _maxSeen);
            var sub = new Subscription(work.Session, Math.Min(work.Cursor, head));
            _subs.Add(sub);
            if (head > sub.Cursor)
            {
                await CatchUpAsync([sub], head, flush: false);
            }
        }
        finally
        {
            Finish(work);
        }
    }

    /// <summary>Several subscriptions at once: each starts from its own cursor; one catch-up brings them all to the newest head.</summary>
    private async Task OnSubscribeManyAsync(List<SubscribeWork> works)
    {
        try
        {
            var added = new List<Subscription>(works.Count);
            long target = 0;
            foreach (var work in works)
            {
                if (work.Session.IsClosed || !work.Session.Conversations.Contains(ConvId) || _subs.Exists(s => s.Session == work.Session))
                {
                    continue;
                }

                var head = Math.Max(work.KnownLastSeq, _maxSeen);
                var sub = new Subscription(work.Session, Math.Min(work.Cursor, head));
                _subs.Add(sub);
                added.Add(sub);
                target = Math.Max(target, head);
            }

            var behind = added.Where(s => s.Cursor < target).ToList();
            if (behind.Count > 0)
            {
                await CatchUpAsync(behind, target, flush: false);
            }
        }
        finally
        {
            foreach (var work in works)
            {
                Finish(work);
            }
        }
    }

    /// <summary>A subscription's backlog is queued: written now, or by its <see cref="SubscribeWork.OnDone"/>.</summary>
    private static void Finish(SubscribeWork work)
    {
        if (work.OnDone is null)
        {
            work.Session.Flush();
        }
        else
        {
            work.OnDone();
        }
    }

    private void Broadcast(BroadcastWork b)
    {
        foreach (var sub in _subs)
        {
            var s = sub.Session;
            if (b.Except is not null && s.UserId == b.Except)
            {
                continue;
            }

            if (b.PresenceOnline is bool online && !s.IsPresenceNews(b.Except ?? "", online))
            {
                continue;
            }

            Emit(s, b.Frame);
        }
    }

    /// <summary>
    /// Holds presence news from the first of it — <see cref="PresenceHold.Normal"/>, or <see cref="PresenceHold.Burst"/>
    /// while the last batch was a big one: a room's members coming and going together then cost each connection one
    /// write for all their news, not one per member.
    /// </summary>
    private void HoldPresence(BroadcastWork news)
    {
        if (_presenceHeld is null)
        {
            _presenceHeld = [];
            var hold = _presenceBurst ? _ctx.PresenceHold.Burst : _ctx.PresenceHold.Normal;
            _ = Task.Delay(hold).ContinueWith(static (_, state) => ((ConversationRoute)state!).Post(PresenceDueWork.Instance), this, TaskScheduler.Default);
        }

        _presenceHeld.Add(news);
    }

    /// <summary>Writes the held presence news, in arrival order, each connection's share in one write.</summary>
    private void WritePresence()
    {
        var held = _presenceHeld;
        _presenceHeld = null;
        if (held is null)
        {
            return;
        }

        _presenceBurst = held.Count >= _ctx.PresenceHold.BurstNews;

        // Due work runs alone, never inside a delivery batch: cork, write all the news, then one flush per connection.
        _corked = true;
        try
        {
            foreach (var news in held)
            {
                Broadcast(news);
            }
        }
        finally
        {
            Uncork();
        }
    }

    private void OnMemberLeft(MemberLeftWork left)
    {
        foreach (var sub in _subs)
        {
            sub.Session.Send(left.Frame);
        }

        // Nothing queued after the leave reaches the leaver; the hub releases their hold on the route.
        _subs.RemoveAll(s => s.Session.UserId == left.UserId);
    }

    /// <summary>
    /// Brings every given subscription up to <paramref name="target"/> from the store, in seq order. A subscription more
    /// than <see cref="MaxCatchUpMessages"/> behind is told of a gap for the older part (it reads it through history).
    /// The frames are queued, each connection's share written together: at the end when <paramref name="flush"/>, else
    /// by the caller (a hello's backlog leaves with its <c>synced</c>, see <see cref="SubscribeWork"/>).
    /// </summary>
    private async Task CatchUpAsync(List<Subscription> subs, long target, bool flush = true)
    {
        try
        {
            await QueueCatchUpAsync(subs, target);
        }
        finally
        {
            if (flush)
            {
                foreach (var sub in subs)
                {
                    sub.Session.Flush();
                }
            }
        }
    }

    private async Task QueueCatchUpAsync(List<Subscription> subs, long target)
    {
        var from = subs.Min(s => s.Cursor);
        var backlog = _ctx.BacklogLimit;
        foreach (var sub in subs)
        {
            // Far behind: announce the older part as a gap, as hello does, and deliver only the newest part. A hello's
            // backlog also draws on the session's budget for all its conversations together.
            var missed = target - sub.Cursor;
            var limit = sub.IsFresh ? sub.Session.TakeHelloBacklog((int)Math.Clamp(missed, 0, backlog)) : MaxCatchUpMessages;
            if (missed > limit)
            {
                var gapTo = target - limit;
                sub.Session.Queue(ServerFrames.Gap(ConvId, sub.Cursor + 1, gapTo));
                sub.Cursor = gapTo;
            }

            sub.IsFresh = false;
        }

        from = Math.Max(from, subs.Min(s => s.Cursor));
        if (_recent.Covers(from, target))
        {
            // The newest messages are in memory: no store read (a reconnect storm's resumes land here).
            for (var seq = from + 1; seq <= target; seq++)
            {
                foreach (var sub in subs)
                {
                    if (sub.Cursor == seq - 1)
                    {
                        sub.Session.Queue(_recent[seq]);
                        sub.Cursor = seq;
                    }
                }
            }

            return;
        }

        var cursor = from;
        try
        {
            while (cursor < target)
            {
                MessagePage page;
                await _ctx.StoreReads.WaitAsync();
                try
                {
                    page = await _ctx.Store.ReadMessagesAsync(ConvId, new HistoryQuery(cursor, target + 1, ProtocolRules.MaxHistoryLimit), CancellationToken.None);
                }
                finally
                {
                    _ctx.StoreReads.Release();
                }

                if (page.Messages.Count == 0)
                {
                    break;
                }

                foreach (var m in page.Messages)
                {
                    ReadOnlyMemory<byte> frame = ServerFrames.Message(m);
                    _recent.Add(m.Seq, frame);
                    foreach (var sub in subs)
                    {
                        if (sub.Cursor == m.Seq - 1)
                        {
                            sub.Session.Queue(frame);
                            sub.Cursor = m.Seq;
                        }
                    }

                    cursor = m.Seq;
                }

                if (!page.HasMore)
                {
                    break;
                }
            }
        }
        catch (Exception e)
        {
            // Left behind: the next event or head check retries from the cursors.
            _ctx.Log.LogWarning(e, "catching up {Conv} from the store failed", ConvId);
        }
    }

    private sealed class Subscription(Session session, long cursor)
    {
        public Session Session { get; } = session;

        public long Cursor { get; set; } = cursor;

        /// <summary>True until the first catch-up: a hello backlog, limited to the backlog size.</summary>
        public bool IsFresh { get; set; } = true;
    }
}

/// <summary>
/// What routes need from the hub; <paramref name="StoreReads"/> admits the node's delivery reads of the store;
/// <paramref name="ReorderWait"/> is how long an event ahead of a missing seq waits for it before the store is read;
/// <paramref name="PresenceHold"/> how long presence news is held to be written together.
/// </summary>
internal sealed record RouteContext(IChatStore Store, ILogger Log, int BacklogLimit, SemaphoreSlim StoreReads, TimeSpan ReorderWait, PresenceHold PresenceHold);

/// <summary>
/// Presence news is held <paramref name="Normal"/> from the first of it (zero: written at once); after a batch of at
/// least <paramref name="BurstNews"/> pieces the next is held <paramref name="Burst"/>.
/// </summary>
internal sealed record PresenceHold(TimeSpan Normal, TimeSpan Burst, int BurstNews);

internal abstract record RouteWork;

/// <summary>A stored message to deliver (from the bus).</summary>
internal sealed record MessageWork(long Seq, ReadOnlyMemory<byte> Frame) : RouteWork;

/// <summary>The presence news held since the first of it is due.</summary>
internal sealed record PresenceDueWork : RouteWork
{
    public static readonly PresenceDueWork Instance = new();
}

/// <summary>A held event's wait for its missing predecessor ended.</summary>
internal sealed record GapTimeoutWork : RouteWork
{
    public static readonly GapTimeoutWork Instance = new();
}

/// <summary>The store's last seq, from a head check: catch up whoever is behind it.</summary>
internal sealed record HeadWork(long LastSeq) : RouteWork;

/// <summary>
/// Start delivering to a session from <paramref name="Cursor"/>. Without <paramref name="OnDone"/> the backlog is written
/// at once; with it, it is only queued, and <paramref name="OnDone"/>, run once it is, must see that the session's queue
/// is written (a hello's last one sends <c>synced</c>: welcome's backlog from every conversation leaves in one write).
/// </summary>
internal sealed record SubscribeWork(Session Session, long Cursor, long KnownLastSeq, Action? OnDone) : RouteWork;

/// <summary>Stop delivering to a session.</summary>
internal sealed record UnsubscribeWork(Session Session) : RouteWork;

/// <summary>
/// A frame for every subscribed session but those of <paramref name="Except"/>; for presence, only to sessions to
/// which the status is news.
/// </summary>
internal sealed record BroadcastWork(ReadOnlyMemory<byte> Frame, string? Except, bool? PresenceOnline) : RouteWork;

/// <summary>A member left: tell everyone (the leaver included), then stop delivering to the leaver's sessions.</summary>
internal sealed record MemberLeftWork(string UserId, ReadOnlyMemory<byte> Frame) : RouteWork;
