using System.Collections.Concurrent;

namespace Parley.Delivery;

/// <summary>One authenticated client connection on this node: who it is, what it is subscribed to, and its sink.</summary>
public sealed class Session
{
    // Per-connection state is kept small (thousands of idle sessions per node): the presence map is created on the first
    // presence frame, and the conversation set starts with one lock and a handful of buckets.
    private ConcurrentDictionary<string, bool>? _presenceSeen;
    private readonly IFrameSink _sink;
    private int _closed;

    internal Session(string id, string userId, string username, IFrameSink sink)
    {
        Id = id;
        UserId = userId;
        Username = username;
        _sink = sink;
    }

    /// <summary>The connection id (unique cluster-wide).</summary>
    public string Id { get; }

    /// <summary>The authenticated user.</summary>
    public string UserId { get; }

    /// <summary>The authenticated user's name.</summary>
    public string Username { get; }

    /// <summary>The conversations this connection receives (kept in step with membership events).</summary>
    internal ConcurrentDictionary<string, byte> Conversations { get; } = new(concurrencyLevel: 1, capacity: 4, StringComparer.Ordinal);

    /// <summary>The presence update of this session's attach (awaited before its detach updates presence again).</summary>
    internal Task PresenceUpdate { get; set; } = Task.CompletedTask;

    /// <summary>True once detached from the hub.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    internal bool MarkClosed() => Interlocked.Exchange(ref _closed, 1) == 0;

    /// <summary>Queues a frame; false when the connection is closed or its queue is full.</summary>
    public bool Send(ReadOnlyMemory<byte> frame) => !IsClosed && _sink.TrySend(frame);

    /// <summary>Closes the underlying connection.</summary>
    public void Close(int code, string reason) => _sink.Close(code, reason);

    /// <summary>True when a presence frame about <paramref name="userId"/> with this status is news to this connection.</summary>
    internal bool IsPresenceNews(string userId, bool online)
    {
        var news = true;
        var seen = Volatile.Read(ref _presenceSeen)
            ?? Interlocked.CompareExchange(ref _presenceSeen, new ConcurrentDictionary<string, bool>(concurrencyLevel: 1, capacity: 4, StringComparer.Ordinal), null)
            ?? _presenceSeen!;
        seen.AddOrUpdate(userId, online, (_, old) =>
        {
            news = old != online;
            return online;
        });
        return news;
    }
}
