using System.Collections.Concurrent;
using System.Text.Json;
using Parley.Delivery;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A connection as the hub sees it: keeps every frame written to it and counts the socket writes a real connection
/// would make.
/// </summary>
internal sealed class RecordingSink : IFrameSink
{
    private readonly ConcurrentQueue<JsonElement> _frames = new();
    private int _waiting;
    private int _writes;

    /// <summary>Socket writes: one per <see cref="TrySend"/>, one per <see cref="Flush"/> that had frames waiting.</summary>
    public int Writes => Volatile.Read(ref _writes);

    /// <summary>Each frame takes 50 µs to take in, as a busy node's would: a burst queues up behind the first.</summary>
    public bool Slow { get; set; }

    public bool TrySend(ReadOnlyMemory<byte> frame)
    {
        Record(frame);
        Interlocked.Exchange(ref _waiting, 0);
        Interlocked.Increment(ref _writes);
        return true;
    }

    public bool TryQueue(ReadOnlyMemory<byte> frame)
    {
        Record(frame);
        Interlocked.Increment(ref _waiting);
        return true;
    }

    public void Flush()
    {
        if (Interlocked.Exchange(ref _waiting, 0) > 0)
        {
            Interlocked.Increment(ref _writes);
        }
    }

    private void Record(ReadOnlyMemory<byte> frame)
    {
        if (Slow)
        {
            var until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 20_000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(10);
            }
        }

        _frames.Enqueue(JsonDocument.Parse(frame).RootElement.Clone());
    }

    public void Close(int closeCode, string reason)
    {
    }

    /// <summary>The ops of the frames so far, in order.</summary>
    public List<string> Ops() => [.. _frames.Select(f => f.GetProperty("op").GetString()!)];

    public List<long> Seqs(string conv) =>
        [.. _frames.Where(f => f.GetProperty("op").GetString() == "msg" && f.GetProperty("conv").GetString() == conv).Select(f => f.GetProperty("seq").GetInt64())];

    public List<string> PresenceUsers() =>
        [.. _frames.Where(f => f.GetProperty("op").GetString() == "presence").Select(f => f.GetProperty("userId").GetString()!)];

    public Task WaitForPresenceAsync(int count) => WaitAsync(() => PresenceUsers().Count >= count);

    public Task WaitForSyncedAsync() => WaitAsync(() => _frames.Any(f => f.GetProperty("op").GetString() == "synced"));

    public Task WaitForAsync(string conv, int count) => WaitAsync(() => Seqs(conv).Count >= count);

    public bool HasPresence(string userId, string status) => PresenceCount(userId, status) > 0;

    public int PresenceCount(string userId, string status) => _frames.Count(f =>
        f.GetProperty("op").GetString() == "presence" && f.GetProperty("userId").GetString() == userId && f.GetProperty("status").GetString() == status);

    public Task WaitForPresenceAsync(string userId, string status) => WaitAsync(() => HasPresence(userId, status));

    public Task WaitForAsync(Func<JsonElement, bool> match) => WaitAsync(() => _frames.Any(match));

    public bool Has(Func<JsonElement, bool> match) => _frames.Any(match);

    public int Count(Func<JsonElement, bool> match) => _frames.Count(match);

    private static async Task WaitAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for frames");
            await Task.Delay(20);
        }
    }
}

/// <summary>Sessions whose frames are recorded, attached straight to a hub.</summary>
internal static class RecordedSessions
{
    /// <summary>Creates and attaches a session of <paramref name="user"/> with no resume; returns once it is synced.</summary>
    public static async Task<(Session Session, RecordingSink Log)> AttachRecordedAsync(this Hub hub, UserRef user)
    {
        var log = new RecordingSink();
        var session = hub.CreateSession(user.UserId, user.Username, log);
        await hub.AttachAsync(session, null, CancellationToken.None);
        await log.WaitForSyncedAsync();
        return (session, log);
    }
}

/// <summary>Reading member frames.</summary>
internal static class MemberFrames
{
    /// <summary>True for the "left" notice of <paramref name="userId"/> in <paramref name="conv"/>.</summary>
    public static bool IsLeftOf(this JsonElement frame, string conv, string userId) =>
        frame.Op() == "member" && frame.Str("conv") == conv && frame.Str("userId") == userId && frame.Str("change") == "left";
}
