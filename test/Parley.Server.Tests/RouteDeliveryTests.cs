using Parley.Delivery;
using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A conversation's delivery on one node, driven by playing the bus against a real store. Message events that arrive out
/// of seq order (two nodes committing to one conversation publish in an order the broker does not keep): a held event
/// waits briefly for the missing one instead of reading the store, and a gap that outlives the wait is filled from the
/// store. A connection that resumes a few messages behind is caught up from the route's recent frames. Either way each
/// connection gets every seq once, in order.
/// </summary>
[Trait("Tier", "Server")]
public sealed class RouteDeliveryTests
{
    [Fact]
    public async Task An_event_ahead_of_a_missing_seq_waits_for_it_and_the_store_is_not_read()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 5_000);
        var messages = await t.AppendAsync(3);

        t.Reads.Reset();
        t.Publish(messages[1]);
        t.Publish(messages[2]);
        await Task.Delay(300);
        Assert.Empty(t.Sink.Seqs(t.Room));

        t.Publish(messages[0]);
        await t.Sink.WaitForAsync(t.Room, 3);

        Assert.Equal([1L, 2L, 3L], t.Sink.Seqs(t.Room));
        Assert.Equal(0, t.Reads.Count);
    }

    [Fact]
    public async Task A_gap_that_outlives_the_wait_is_read_from_the_store_in_order()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 50);
        var messages = await t.AppendAsync(4);

        t.Reads.Reset();
        t.Publish(messages[0]);
        t.Publish(messages[3]);
        t.Publish(messages[2]);
        await t.Sink.WaitForAsync(t.Room, 4);

        // seq 2 never came on the bus: it came from the store, after seq 1 and before 3 and 4.
        Assert.Equal([1L, 2L, 3L, 4L], t.Sink.Seqs(t.Room));
        Assert.True(t.Reads.Count >= 1, "the missing seq is read from the store");

        // The late duplicate of an event already delivered is dropped.
        t.Publish(messages[1]);
        t.Publish(messages[3]);
        await Task.Delay(300);
        Assert.Equal([1L, 2L, 3L, 4L], t.Sink.Seqs(t.Room));
    }

    [Fact]
    public async Task With_no_wait_a_gap_is_read_from_the_store_at_once()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 0);
        var messages = await t.AppendAsync(2);

        t.Reads.Reset();
        t.Publish(messages[1]);
        await t.Sink.WaitForAsync(t.Room, 2);

        Assert.Equal([1L, 2L], t.Sink.Seqs(t.Room));
        Assert.True(t.Reads.Count >= 1);
    }

    [Fact]
    public async Task A_resume_a_few_messages_behind_is_caught_up_from_memory()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30);
        await t.AppendAndDeliverAsync(5);

        t.Reads.Reset();
        var resumed = await t.AttachAsync(new Dictionary<string, long> { [t.Room] = 2 });

        Assert.Equal([3L, 4L, 5L], resumed.Seqs(t.Room));
        Assert.Equal(0, t.Reads.Count);
    }

    [Fact]
    public async Task A_resume_older_than_the_recent_frames_is_read_from_the_store()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30);
        await t.AppendAndDeliverAsync(100);

        t.Reads.Reset();
        var resumed = await t.AttachAsync(new Dictionary<string, long> { [t.Room] = 10 });

        Assert.Equal(Enumerable.Range(11, 90).Select(i => (long)i), resumed.Seqs(t.Room));
        Assert.True(t.Reads.Count >= 1, "the older part is read from the store");
    }

    [Fact]
    public async Task Large_messages_are_kept_in_memory_only_up_to_the_byte_bound()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30);
        await t.AppendAndDeliverAsync(6, bodyChars: 20_000);

        // 3 of 20 KB fit the route's 64 KiB: a resume 2 behind is served from memory, one 5 behind needs the store.
        t.Reads.Reset();
        var near = await t.AttachAsync(new Dictionary<string, long> { [t.Room] = 4 });
        Assert.Equal([5L, 6L], near.Seqs(t.Room));
        Assert.Equal(0, t.Reads.Count);

        var far = await t.AttachAsync(new Dictionary<string, long> { [t.Room] = 1 });
        Assert.Equal([2L, 3L, 4L, 5L, 6L], far.Seqs(t.Room));
        Assert.True(t.Reads.Count >= 1, "the older part is read from the store");
    }

    [Fact]
    public async Task A_burst_of_events_leaves_in_a_few_writes_per_connection_and_in_order()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30);
        var messages = await t.AppendAsync(200);

        t.Sink.Slow = true;
        var before = t.Sink.Writes;
        foreach (var m in messages)
        {
            t.Publish(m);
        }

        await t.Sink.WaitForAsync(t.Room, 200);

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), t.Sink.Seqs(t.Room));
        var writes = t.Sink.Writes - before;
        Assert.True(writes <= 50, $"{writes} writes for 200 frames: the queued events were not written together");
    }

    [Fact]
    public async Task Presence_news_close_together_reaches_a_connection_in_one_write()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30);
        var users = Enumerable.Range(0, 20).Select(_ => Ids.New("u")).ToList();

        var before = t.Sink.Writes;
        foreach (var user in users)
        {
            // 5 ms apart: each would be written on its own if presence were not held for its batch (200 ms).
            t.PublishPresence(user, online: true);
            await Task.Delay(5);
        }

        await t.Sink.WaitForPresenceAsync(users.Count);

        Assert.Equal(users, t.Sink.PresenceUsers());
        var writes = t.Sink.Writes - before;
        Assert.True(writes <= 3, $"{writes} writes for {users.Count} presence frames");
    }

    [Fact]
    public async Task A_burst_of_presence_news_is_held_longer_until_a_small_batch_ends_it()
    {
        await using var t = await Setup.CreateAsync(reorderWaitMs: 30, o =>
        {
            o.PresenceBatchMs = 100;
            o.PresenceBurstBatchMs = 2_000;
            o.PresenceBurstNews = 5;
        });

        // A room coming back: six members at once make one batch, big enough to start a burst.
        var burst = Enumerable.Range(0, 6).Select(_ => Ids.New("u")).ToList();
        foreach (var user in burst)
        {
            t.PublishPresence(user, online: true);
        }

        await t.Sink.WaitForPresenceAsync(burst.Count);

        // The next news is held for the burst's hold, not the normal one: nothing yet after five normal holds...
        var late = Ids.New("u");
        var held = System.Diagnostics.Stopwatch.StartNew();
        t.PublishPresence(late, online: true);
        await Task.Delay(500);
        Assert.Equal(burst, t.Sink.PresenceUsers());
        await t.Sink.WaitForPresenceAsync(burst.Count + 1);
        Assert.True(held.ElapsedMilliseconds >= 1_900, $"held {held.ElapsedMilliseconds} ms");

        // ...and that batch of one ended the burst: the news after it is held the normal time again.
        var quiet = Ids.New("u");
        var normal = System.Diagnostics.Stopwatch.StartNew();
        t.PublishPresence(quiet, online: true);
        await t.Sink.WaitForPresenceAsync(burst.Count + 2);
        Assert.True(normal.ElapsedMilliseconds < 1_900, $"held {normal.ElapsedMilliseconds} ms: still in the burst");
        Assert.Equal([.. burst, late, quiet], t.Sink.PresenceUsers());
    }

    private sealed class Setup : IAsyncDisposable
    {
        private ParleyNode _node = null!;
        private IChatStore _store = null!;
        private string _owner = "";
        private string _reader = "";

        public string Room { get; private set; } = "";

        public RecordingSink Sink { get; } = new();

        public CallCounter Reads { get; private set; } = null!;

        public static async Task<Setup> CreateAsync(int reorderWaitMs, Action<ParleyOptions>? configure = null)
        {
            var t = new Setup();
            var sqlite = EmbeddedNode.NewStore("reorder");
            (t._store, t.Reads) = StoreInterceptor.Wrap<CallCounter>(sqlite);
            t.Reads.Method = nameof(IChatStore.ReadMessagesAsync);
            var options = new ParleyOptions { ReorderWaitMs = reorderWaitMs, HeadCheckIntervalMs = 600_000 };
            configure?.Invoke(options);
            t._node = await EmbeddedNode.StartAsync(t._store, options);

            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            t._owner = Ids.New("u");
            var reader = t._reader = Ids.New("u");
            await t._store.CreateUserAsync(new User(t._owner, "owner" + t._owner[^6..], "x", now), CancellationToken.None);
            await t._store.CreateUserAsync(new User(reader, "reader" + reader[^6..], "x", now), CancellationToken.None);
            t.Room = Ids.New("r");
            await t._store.CreateRoomAsync(t.Room, t._owner, "reorder", false, now, CancellationToken.None);
            await t._store.AddMemberAsync(t.Room, reader, now, CancellationToken.None);

            var session = t._node.Hub.CreateSession(reader, "reader", t.Sink);
            await t._node.Hub.AttachAsync(session, null, CancellationToken.None);
            await t.Sink.WaitForSyncedAsync();
            return t;
        }

        /// <summary>Stores <paramref name="count"/> messages without publishing them (the test plays the bus).</summary>
        public async Task<List<StoredMessage>> AppendAsync(int count, int bodyChars = 0)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var batch = Enumerable.Range(0, count)
                .Select(i => new AppendRequest(Room, _owner, "owner", $"k{i}", Ids.New("m"), $"body {i}".PadRight(bodyChars, 'x'), now, "test"))
                .ToList();
            var results = await _store.AppendBatchAsync(batch, CancellationToken.None);
            return results.Select(r => r.Message!).ToList();
        }

        /// <summary>Stores <paramref name="count"/> messages, publishes them in order and waits until the reader has them all.</summary>
        public async Task AppendAndDeliverAsync(int count, int bodyChars = 0)
        {
            foreach (var m in await AppendAsync(count, bodyChars))
            {
                Publish(m);
            }

            await Sink.WaitForAsync(Room, count);
            Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), Sink.Seqs(Room));
        }

        /// <summary>Another connection of the reader, resuming from <paramref name="resume"/>; returns once it is synced.</summary>
        public async Task<RecordingSink> AttachAsync(IReadOnlyDictionary<string, long> resume)
        {
            var sink = new RecordingSink();
            var session = _node.Hub.CreateSession(_reader, "reader", sink);
            await _node.Hub.AttachAsync(session, resume, CancellationToken.None);
            await sink.WaitForSyncedAsync();
            return sink;
        }

        public void Publish(StoredMessage m) =>
            _node.Hub.OnEvent(BusTopic.ForConversation(m.Conv), new BusEvent(BusEventKind.Message, m.Conv, m.Seq, m.From, "test", ServerFrames.Message(m)));

        public void PublishPresence(string userId, bool online) =>
            _node.Hub.OnEvent(BusTopic.ForConversation(Room), new BusEvent(BusEventKind.Presence, Room, online ? 1 : 0, userId, "test", ServerFrames.Presence(userId, online)));

        public ValueTask DisposeAsync() => _node.DisposeAsync();
    }
}
