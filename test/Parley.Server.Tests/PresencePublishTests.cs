using System.Collections.Concurrent;
using System.Text;
using Parley.Memory;
using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// What a node hands the bus for presence. News in a quiet conversation is published at once as an event of its own;
/// news that follows within the publish window leaves as one batch event when the window ends, so a room's members
/// coming back together cost the broker one event per window. Every member still hears every change, decoded from the
/// batch on each node; a malformed batch costs its bad lines, never the node.
/// </summary>
[Trait("Tier", "Server")]
public sealed class PresencePublishTests
{
    [Fact]
    public async Task A_room_coming_back_together_is_one_event_then_a_batch_and_a_quiet_room_publishes_at_once()
    {
        await using var t = await Setup.CreateAsync(windowMs: 500);
        var room = await t.Node.Chat.CreateRoomAsync(t.Owner, "together", isPrivate: false);
        var members = new List<UserRef>();
        for (var i = 0; i < 6; i++)
        {
            var user = await StoreUsers.CreateAsync(t.Node.Store, "member" + i);
            await t.Node.Chat.AddMemberAsync(t.Owner, room.Id, user.Username);
            members.Add(user);
        }

        var latecomer = await StoreUsers.CreateAsync(t.Node.Store, "latecomer");
        await t.Node.Chat.AddMemberAsync(t.Owner, room.Id, latecomer.Username);
        var observer = await t.AttachAsync(t.Owner);
        // Two windows (500 ms each) close the room's window the owner's "online" opened; the rest is room for late
        // timers while the whole suite runs on two cores.
        await Task.Delay(3_000);
        t.Bus.Clear();

        await Task.WhenAll(members.Select(t.AttachAsync));
        foreach (var m in members)
        {
            await observer.WaitForPresenceAsync(m.UserId, "online");
        }

        var events = t.Bus.Presence(room.Id);
        Assert.Equal(BusEventKind.Presence, events[0].Kind);
        Assert.True(events.Count <= 3, $"{events.Count} bus events for {members.Count} members coming back together");
        Assert.Contains(events, e => e.Kind == BusEventKind.PresenceBatch);
        var told = events.SelectMany(News).ToList();
        Assert.Equal(members.Select(m => (m.UserId, true)).Order(), told.Order());

        // Two windows with nothing (and room for late timers): the room is quiet again and the next change is
        // published on its own, at once.
        await Task.Delay(3_000);
        t.Bus.Clear();
        await t.AttachAsync(latecomer);
        await observer.WaitForPresenceAsync(latecomer.UserId, "online");
        var next = t.Bus.Presence(room.Id);
        Assert.Equal([(BusEventKind.Presence, latecomer.UserId)], next.Select(e => (e.Kind, e.Subject)));
    }

    [Fact]
    public async Task A_closing_connection_sends_the_gathered_news_at_once_and_its_offline_after_it()
    {
        await using var t = await Setup.CreateAsync(windowMs: 4_000);
        var room = await t.Node.Chat.CreateRoomAsync(t.Owner, "closing", isPrivate: false);
        var ann = await StoreUsers.CreateAsync(t.Node.Store, "ann");
        var ben = await StoreUsers.CreateAsync(t.Node.Store, "ben");
        await t.Node.Chat.AddMemberAsync(t.Owner, room.Id, ann.Username);
        await t.Node.Chat.AddMemberAsync(t.Owner, room.Id, ben.Username);

        // The owner's "online" opens the room's window; Ann's and Ben's are gathered behind it.
        var window = System.Diagnostics.Stopwatch.StartNew();
        var observer = await t.AttachAsync(t.Owner);
        await t.AttachAsync(ann);
        var (benFirst, _) = await t.AttachWithSessionAsync(ben);
        var (benSecond, _) = await t.AttachWithSessionAsync(ben);
        await Task.Delay(200);
        Assert.False(observer.HasPresence(ben.UserId, "online"), "Ben's online is gathered until the window ends");

        // One of Ben's connections closes (not his last: no news of its own): what was gathered goes out now, long
        // before the window ends — another node could otherwise publish newer news of him first.
        await t.Node.Hub.DetachAsync(benFirst);
        await observer.WaitForPresenceAsync(ben.UserId, "online");
        Assert.True(window.ElapsedMilliseconds < 3_000, $"{window.ElapsedMilliseconds} ms: the gathered news waited for its window");
        Assert.True(observer.HasPresence(ann.UserId, "online"));

        // His last closes: the "offline" is never held.
        await t.Node.Hub.DetachAsync(benSecond);
        await observer.WaitForPresenceAsync(ben.UserId, "offline");
        Assert.True(window.ElapsedMilliseconds < 3_500, $"{window.ElapsedMilliseconds} ms: the offline waited for the window");
        var benNews = t.Bus.Presence(room.Id).SelectMany(News).Where(n => n.UserId == ben.UserId).ToList();
        Assert.Equal([(ben.UserId, true), (ben.UserId, false)], benNews);
    }

    [Fact]
    public async Task A_batch_from_another_node_reaches_members_and_its_malformed_lines_are_skipped()
    {
        await using var t = await Setup.CreateAsync(windowMs: 250);
        var room = await t.Node.Chat.CreateRoomAsync(t.Owner, "remote", isPrivate: false);
        var observer = await t.AttachAsync(t.Owner);

        var body = Encoding.UTF8.GetBytes("1uRemoteOne\nXuBad\n1\n0u bad id\n\n1uRemoteTwo\n0uRemoteOne");
        t.Node.Hub.OnEvent(BusTopic.ForConversation(room.Id), new BusEvent(BusEventKind.PresenceBatch, room.Id, 0, "", "other-node", body));

        await observer.WaitForPresenceAsync("uRemoteOne", "offline");
        await observer.WaitForPresenceAsync("uRemoteTwo", "online");
        Assert.Equal(["uRemoteOne", "uRemoteTwo", "uRemoteOne"], observer.PresenceUsers());
        Assert.True(observer.HasPresence("uRemoteOne", "online"));
    }

    private static IEnumerable<(string UserId, bool Online)> News(BusEvent e) =>
        e.Kind == BusEventKind.Presence
            ? [(e.Subject, e.Seq == 1)]
            : Encoding.UTF8.GetString(e.Frame.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => (l[1..], l[0] == '1'));

    /// <summary>The in-memory bus, keeping what the node publishes.</summary>
    private sealed class RecordingBus : InMemoryBusDecorator
    {
        private readonly ConcurrentQueue<(BusTopic Topic, BusEvent Event)> _published = new();

        public void Clear() => _published.Clear();

        public List<BusEvent> Presence(string conv) =>
            [.. _published.Where(p => p.Topic == BusTopic.ForConversation(conv) && p.Event.Kind is BusEventKind.Presence or BusEventKind.PresenceBatch).Select(p => p.Event)];

        public override bool Publish(BusTopic topic, BusEvent evt)
        {
            _published.Enqueue((topic, evt));
            return Inner.Publish(topic, evt);
        }
    }

    private sealed class Setup : IAsyncDisposable
    {
        public ParleyNode Node { get; private set; } = null!;

        public RecordingBus Bus { get; } = new();

        public UserRef Owner { get; private set; } = null!;

        public static async Task<Setup> CreateAsync(int windowMs)
        {
            var t = new Setup();
            var store = EmbeddedNode.NewStore("presence-publish");
            var options = new ParleyOptions { HeadCheckIntervalMs = 600_000, PresencePublishWindowMs = windowMs, PresenceBatchMs = 50, PresenceOfflineGraceMs = 0 };
            t.Node = await EmbeddedNode.StartAsync(store, options, bus: t.Bus);
            t.Owner = await StoreUsers.CreateAsync(t.Node.Store, "owner");
            return t;
        }

        public async Task<RecordingSink> AttachAsync(UserRef user) => (await AttachWithSessionAsync(user)).Log;

        public Task<(Delivery.Session Session, RecordingSink Log)> AttachWithSessionAsync(UserRef user) => Node.Hub.AttachRecordedAsync(user);

        public ValueTask DisposeAsync() => Node.DisposeAsync();
    }
}
