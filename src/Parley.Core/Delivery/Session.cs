using System.Runtime.InteropServices;

namespace Parley.Delivery;

/// <summary>One authenticated client connection on this node: who it is, what it is subscribed to, and its sink.</summary>
public sealed class Session
{
    // The hello's synced: not sent yet (HelloUnsynced), not sent at the hub's last sweep either (HelloOverdue), or sent.
    private const int HelloSynced = 0;
    private const int HelloUnsynced = 1;
    private const int HelloOverdue = 2;

    // Per-connection state is kept small (thousands of idle sessions per node): the presence map is created on the first
    // presence frame, and the conversation set is a small array.
    private Dictionary<string, bool>? _presenceSeen;
    private readonly IFrameSink _sink;
    private string[]? _presenceAudience;
    private int _membershipChanged;
    private int _closed;
    private int _signedOff;
    private int _helloWaiting = HelloUnsynced;
    private int _attached;
    private long _expiresAt = long.MaxValue;

    // Messages the hello's backlog may still send, all conversations together; -1 once synced is sent (no limit after).
    private int _helloBacklogLeft;

    // When this connection's typing was last passed on, per conversation (created on its first typing).
    private Dictionary<string, long>? _typingPassedAt;

    internal Session(string id, string userId, string username, IFrameSink sink, int helloBacklogFrames = int.MaxValue)
    {
        Id = id;
        UserId = userId;
        Username = username;
        _sink = sink;
        _helloBacklogLeft = Math.Max(0, helloBacklogFrames);
    }

    /// <summary>
    /// True when this connection's typing in <paramref name="conv"/> may be passed on at <paramref name="now"/>
    /// (milliseconds): none was within the last <paramref name="intervalMs"/>. Kept per connection, so a flood costs the
    /// flooder's node a lookup per frame and nobody else anything.
    /// </summary>
    public bool TakeTyping(string conv, long now, int intervalMs)
    {
        if (intervalMs <= 0)
        {
            return true;
        }

        var passed = LazyInitializer.EnsureInitialized(ref _typingPassedAt);
        lock (passed)
        {
            if (passed.TryGetValue(conv, out var last) && now - last < intervalMs)
            {
                return false;
            }

            if (passed.Count >= 64)
            {
                // Only conversations typed in within the interval still matter.
                foreach (var stale in passed.Where(p => now - p.Value >= intervalMs).Select(p => p.Key).ToList())
                {
                    passed.Remove(stale);
                }
            }

            passed[conv] = now;
            return true;
        }
    }

    /// <summary>Forgets when typing in <paramref name="conv"/> was last passed on: the connection's message there ended it.</summary>
    public void ClearTyping(string conv)
    {
        if (Volatile.Read(ref _typingPassedAt) is { } passed)
        {
            lock (passed)
            {
                passed.Remove(conv);
            }
        }
    }

    /// <summary>The connection id (unique cluster-wide).</summary>
    public string Id { get; }

    /// <summary>The authenticated user.</summary>
    public string UserId { get; }

    /// <summary>The authenticated user's name.</summary>
    public string Username { get; }

    /// <summary>The conversations this connection receives (kept in step with membership events).</summary>
    internal ConversationSet Conversations { get; } = new();

    /// <summary>The presence update of this session's attach (awaited before its detach updates presence again).</summary>
    internal Task PresenceUpdate { get; set; } = Task.CompletedTask;

    /// <summary>
    /// The conversations told of this session's "online" at attach, when its memberships have not changed since: they
    /// are the ones to tell of its "offline", without a store read. Null when unknown or when a conversation was gained
    /// or left meanwhile (the store then says who shares one with the user now).
    /// </summary>
    internal IReadOnlyList<string>? PresenceAudience =>
        Volatile.Read(ref _membershipChanged) != 0 ? null : Volatile.Read(ref _presenceAudience);

    /// <summary>The conversations told of this session's "online" at attach, whatever changed since (empty before that).</summary>
    internal IReadOnlyList<string> PresenceAnnouncedTo => Volatile.Read(ref _presenceAudience) ?? [];

    /// <summary>Records the conversations told of this session's "online".</summary>
    internal void SetPresenceAudience(string[] convs) => Volatile.Write(ref _presenceAudience, convs);

    /// <summary>
    /// True once the client said it is done (its close frame carried 1000, normal closure): its presence then ends
    /// without the grace a dropped connection gets.
    /// </summary>
    public bool SignedOff => Volatile.Read(ref _signedOff) != 0;

    /// <summary>Records that the client closed with 1000 (see <see cref="SignedOff"/>).</summary>
    public void SignOff() => Volatile.Write(ref _signedOff, 1);

    /// <summary>Notes that the session gained or left a conversation after attach (for good: see <see cref="PresenceAudience"/>).</summary>
    internal void NoteMembershipChanged() => Volatile.Write(ref _membershipChanged, 1);

    /// <summary>Sets when the session's credentials expire; the hub's sweep closes it then (4001).</summary>
    public void ExpiresIn(TimeSpan left) =>
        Volatile.Write(ref _expiresAt, Environment.TickCount64 + (long)Math.Clamp(left.TotalMilliseconds, 0, long.MaxValue / 2));

    /// <summary>True once, when the credentials have expired at <paramref name="now"/> (<see cref="Environment.TickCount64"/>).</summary>
    internal bool TakeExpiry(long now)
    {
        var at = Volatile.Read(ref _expiresAt);
        return at <= now && Interlocked.CompareExchange(ref _expiresAt, long.MaxValue, at) == at;
    }

    /// <summary>True once the hello's attach has subscribed the session to every conversation it listed.</summary>
    internal bool IsAttached => Volatile.Read(ref _attached) != 0;

    /// <summary>Records that the hello's attach has posted every subscription (reconciliation leaves it alone before).</summary>
    internal void MarkAttached() => Volatile.Write(ref _attached, 1);

    /// <summary>Records that the hello's <c>synced</c> is being sent: what the connection queued before it leaves with it.</summary>
    internal void MarkSynced()
    {
        Volatile.Write(ref _helloWaiting, HelloSynced);
        Volatile.Write(ref _helloBacklogLeft, -1);
    }

    /// <summary>
    /// Takes up to <paramref name="wanted"/> messages of the hello's backlog budget and returns how many were granted (the
    /// rest of that conversation's backlog is told as a gap). After <c>synced</c> every request is granted in full: a
    /// conversation gained later is not the hello's backlog.
    /// </summary>
    internal int TakeHelloBacklog(int wanted)
    {
        while (true)
        {
            var left = Volatile.Read(ref _helloBacklogLeft);
            if (left < 0)
            {
                return wanted;
            }

            var granted = Math.Min(left, wanted);
            if (Interlocked.CompareExchange(ref _helloBacklogLeft, left - granted, left) == left)
            {
                return granted;
            }
        }
    }

    /// <summary>
    /// The hub's once-a-second visit: true when the hello is still not synced a visit after the previous one found it so
    /// (between one and two seconds after hello), once; the frames it holds (the welcome) are then to be written.
    /// </summary>
    internal bool TakeOverdueHello()
    {
        var state = Volatile.Read(ref _helloWaiting);
        if (state == HelloUnsynced)
        {
            Interlocked.CompareExchange(ref _helloWaiting, HelloOverdue, HelloUnsynced);
            return false;
        }

        return state == HelloOverdue && Interlocked.CompareExchange(ref _helloWaiting, HelloSynced, HelloOverdue) == HelloOverdue;
    }

    /// <summary>True once detached from the hub.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    internal bool MarkClosed() => Interlocked.Exchange(ref _closed, 1) == 0;

    /// <summary>Queues a frame; false when the connection is closed or its queue is full.</summary>
    public bool Send(ReadOnlyMemory<byte> frame) => !IsClosed && _sink.TrySend(frame);

    /// <summary>Queues a frame that may wait for <see cref="Flush"/>; false when the connection is closed or its queue is full.</summary>
    internal bool Queue(ReadOnlyMemory<byte> frame) => !IsClosed && _sink.TryQueue(frame);

    /// <summary>Writes the frames <see cref="Queue"/> left waiting.</summary>
    internal void Flush() => _sink.Flush();

    /// <summary>Closes the underlying connection.</summary>
    public void Close(int code, string reason) => _sink.Close(code, reason);

    /// <summary>True when a presence frame about <paramref name="userId"/> with this status is news to this connection.</summary>
    internal bool IsPresenceNews(string userId, bool online)
    {
        // Routes of different conversations may ask at once; a plain map under its own lock is cheaper than a
        // concurrent one here (a storm grows thousands of them to a room's size at the same time).
        var seen = Volatile.Read(ref _presenceSeen)
            ?? Interlocked.CompareExchange(ref _presenceSeen, new Dictionary<string, bool>(4, StringComparer.Ordinal), null)
            ?? _presenceSeen!;
        lock (seen)
        {
            ref var status = ref CollectionsMarshal.GetValueRefOrAddDefault(seen, userId, out var existed);
            var news = !existed || status != online;
            status = online;
            return news;
        }
    }
}
