using System.Diagnostics;
using System.Text;
using Parley.Bus.Tests.Support;
using Parley.Testing;
using Xunit;

namespace Parley.Bus.Tests;

/// <summary>
/// The behaviour every <see cref="IMessageBus"/> promises, run against each implementation by a small subclass.
/// Events go from a publisher node to a receiver node; for a single-process bus the receiver is the publisher itself.
/// </summary>
public abstract class BusContractTests : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly List<IMessageBus> _buses = [];

    /// <summary>Creates, without starting it, the bus of one node.</summary>
    protected abstract Task<IMessageBus> CreateBusAsync(string nodeId);

    /// <summary>True when the implementation is one process's bus: nodes cannot reach each other, so the receiver is the publisher.</summary>
    protected virtual bool SingleNode => false;

    /// <summary>
    /// Waits until copies of <paramref name="node"/>'s own <paramref name="published"/> publications that a broker routes
    /// back to it have arrived (and were ignored), so that "delivered exactly once" can be asserted. Nothing to wait for
    /// when there is no broker.
    /// </summary>
    protected virtual Task WaitForOwnCopiesAsync(Node node, int published) => Task.CompletedTask;

    /// <summary>Starts a node with a recording handler; it is disposed after the test.</summary>
    protected async Task<Node> StartNodeAsync()
    {
        var id = "n" + Guid.NewGuid().ToString("N")[..10];
        var bus = await CreateBusAsync(id);
        _buses.Add(bus);
        var handler = new RecordingHandler();
        await bus.StartAsync(handler, CancellationToken.None).WaitAsync(StartTimeout);
        return new Node(id, bus, handler);
    }

    private async Task<Node> ReceiverForAsync(Node publisher) => SingleNode ? publisher : await StartNodeAsync();

    // Per-publisher order makes a probe a barrier: once it arrives, everything published before it that was going to
    // reach the receiver has arrived, so "nothing else came" can be asserted without sleeping.
    private static async Task ProbeAsync(Node publisher, Node receiver)
    {
        var probe = Events.NewConversation();
        await receiver.SubscribeAsync(probe);
        Assert.True(publisher.Publish(probe, 1));
        await receiver.Handler.WaitForAsync(probe, 1);
    }

    [Fact]
    public async Task Delivers_only_the_topics_a_node_subscribes_to()
    {
        var publisher = await StartNodeAsync();
        var receiver = await ReceiverForAsync(publisher);
        var wanted = Events.NewConversation();
        var user = Events.NewConversation();
        var other = Events.NewConversation();
        await receiver.SubscribeAsync(wanted);
        await receiver.SubscribeAsync(user);

        publisher.Publish(other, 1);
        publisher.Publish(wanted, 1);
        publisher.Publish(user, 1);
        publisher.Publish(other, 2);
        publisher.Publish(wanted, 2);
        await receiver.Handler.WaitForAsync(wanted, 2);
        await receiver.Handler.WaitForAsync(user, 1);
        await ProbeAsync(publisher, receiver);

        Assert.Equal([1L, 2L], receiver.Handler.On(wanted).Seqs());
        Assert.Equal([1L], receiver.Handler.On(user).Seqs());
        Assert.Empty(receiver.Handler.On(other));

        // A publisher that subscribes to nothing gets nothing back, its own events included.
        Assert.Empty(publisher.Handler.On(other));
        Assert.Equal(ReferenceEquals(publisher, receiver) ? 2 : 0, publisher.Handler.CountOn(wanted));
    }

    [Fact]
    public async Task Own_publications_are_delivered_to_the_publisher_exactly_once()
    {
        var node = await StartNodeAsync();
        var topic = Events.NewConversation();
        await node.SubscribeAsync(topic);

        for (var seq = 1; seq <= 100; seq++)
        {
            Assert.True(node.Publish(topic, seq));
        }

        await node.Handler.WaitForAsync(topic, 100);
        await WaitForOwnCopiesAsync(node, 100);

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), node.Handler.On(topic).Seqs());
        Assert.All(node.Handler.On(topic), e => Assert.Equal(node.Id, e.Origin));
    }

    [Fact]
    public async Task Keeps_order_per_publisher_and_topic_over_10000_events()
    {
        const int PerTopic = 5_000;
        var publisher = await StartNodeAsync();
        var receiver = await ReceiverForAsync(publisher);
        var a = Events.NewConversation();
        var b = Events.NewConversation();
        foreach (var node in new[] { publisher, receiver }.Distinct())
        {
            await node.SubscribeAsync(a);
            await node.SubscribeAsync(b);
        }

        var accepted = 0;
        for (var seq = 1; seq <= PerTopic; seq++)
        {
            accepted += publisher.Publish(a, seq) ? 1 : 0;
            accepted += publisher.Publish(b, seq) ? 1 : 0;
        }

        Assert.Equal(2 * PerTopic, accepted);
        var expected = Enumerable.Range(1, PerTopic).Select(i => (long)i).ToArray();
        foreach (var node in new[] { publisher, receiver }.Distinct())
        {
            await node.Handler.WaitForAsync(a, PerTopic, TimeSpan.FromSeconds(30));
            await node.Handler.WaitForAsync(b, PerTopic, TimeSpan.FromSeconds(30));
            Assert.Equal(expected, node.Handler.On(a).Seqs());
            Assert.Equal(expected, node.Handler.On(b).Seqs());
            Assert.Equal(0, node.Handler.Overlaps);
        }
    }

    [Fact]
    public async Task Subscribe_and_unsubscribe_are_idempotent()
    {
        var publisher = await StartNodeAsync();
        var receiver = await ReceiverForAsync(publisher);
        var topic = Events.NewConversation();

        await receiver.SubscribeAsync(topic);
        await receiver.SubscribeAsync(topic);
        publisher.Publish(topic, 1);
        await receiver.Handler.WaitForAsync(topic, 1);

        await receiver.UnsubscribeAsync(topic);
        await receiver.UnsubscribeAsync(topic);
        await receiver.UnsubscribeAsync(Events.NewConversation());
        publisher.Publish(topic, 2);

        // Publishing is asynchronous: seq 2 must be past the broker before the receiver subscribes again, or it may
        // legitimately arrive (the receiver would be subscribed when it gets there).
        await ProbeAsync(publisher, receiver);
        await receiver.SubscribeAsync(topic);
        publisher.Publish(topic, 3);
        await receiver.Handler.WaitForAsync(topic, 2);
        await ProbeAsync(publisher, receiver);

        Assert.Equal([1L, 3L], receiver.Handler.On(topic).Seqs());
    }

    [Fact]
    public async Task Unsubscribe_stops_delivery()
    {
        var publisher = await StartNodeAsync();
        var receiver = await ReceiverForAsync(publisher);
        var topic = Events.NewConversation();
        var marker = Events.NewConversation();
        await receiver.SubscribeAsync(topic);
        await receiver.SubscribeAsync(marker);
        publisher.Publish(topic, 1);
        await receiver.Handler.WaitForAsync(topic, 1);

        await receiver.UnsubscribeAsync(topic);
        publisher.Publish(topic, 2);
        publisher.Publish(marker, 1);
        await receiver.Handler.WaitForAsync(marker, 1);

        Assert.Equal([1L], receiver.Handler.On(topic).Seqs());
    }

    [Fact]
    public async Task Frame_bytes_and_every_header_field_round_trip_exactly()
    {
        var publisher = await StartNodeAsync();
        var receiver = await ReceiverForAsync(publisher);
        var conv = BusTopic.ForConversation("conv_" + Guid.NewGuid().ToString("N")[..8] + "-Zz9");

        // The one topic of events addressed to users; no other test of this class publishes on it.
        var user = BusTopic.Users;
        foreach (var node in new[] { publisher, receiver }.Distinct())
        {
            await node.SubscribeAsync(conv);
            await node.SubscribeAsync(user);
        }

        var frames = new[]
        {
            Encoding.UTF8.GetBytes("{\"op\":\"msg\",\"body\":\"héllo 👋 \\u0000 \\\"q\\\"\"}"),
            Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(),
            [],
            Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 31)).ToArray(),
        };
        var sent = new List<(BusTopic Topic, BusEvent Event)>();
        var i = 0;
        foreach (var kind in Enum.GetValues<BusEventKind>())
        {
            var topic = kind == BusEventKind.ConversationAdded ? user : conv;
            var evt = new BusEvent(
                kind,
                conv.Id,
                kind == BusEventKind.Message ? (1L << 53) - 1 : i,
                i % 2 == 0 ? "" : "subject-Ü_" + i,
                publisher.Id,
                frames[i % frames.Length]);
            sent.Add((topic, evt));
            Assert.True(publisher.Bus.Publish(topic, evt));
            i++;
        }

        foreach (var node in new[] { publisher, receiver }.Distinct())
        {
            await Eventually.TrueAsync(() => node.Handler.All.Count >= sent.Count, TimeSpan.FromSeconds(15), $"{sent.Count} events on {node.Id}");
            Assert.Equal(sent.Count, node.Handler.All.Count);
            foreach (var ((topic, expected), (actualTopic, actual)) in sent.Zip(node.Handler.All.OrderBy(e => e.Event.Kind)))
            {
                Assert.Equal(topic, actualTopic);
                Assert.Equal(expected.Kind, actual.Kind);
                Assert.Equal(expected.Conv, actual.Conv);
                Assert.Equal(expected.Seq, actual.Seq);
                Assert.Equal(expected.Subject, actual.Subject);
                Assert.Equal(expected.Origin, actual.Origin);
                Assert.Equal(expected.Frame.ToArray(), actual.Frame.ToArray());
            }
        }
    }

    [Fact]
    public async Task A_started_bus_reports_itself_connected_and_answers_pings()
    {
        var node = await StartNodeAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));

        Assert.True(node.Bus.IsConnected);
        Assert.True(await node.Bus.PingAsync(deadline.Token));
    }

    [Fact]
    public async Task Publish_never_throws_nor_blocks()
    {
        var idle = await CreateBusAsync("n" + Guid.NewGuid().ToString("N")[..10]);
        var topic = Events.NewConversation();
        idle.Publish(topic, Events.Message(topic, 1, "idle"));
        await idle.DisposeAsync();
        idle.Publish(topic, Events.Message(topic, 2, "idle"));

        var node = await StartNodeAsync();
        await node.SubscribeAsync(topic);
        const int Flood = 120_000;
        var watch = Stopwatch.StartNew();
        var accepted = 0;
        for (var seq = 1; seq <= Flood; seq++)
        {
            accepted += node.Publish(topic, seq) ? 1 : 0;
        }

        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"{Flood} publishes took {watch.Elapsed}");
        Assert.InRange(accepted, 1, Flood);
        await node.Handler.WaitForAsync(topic, accepted, TimeSpan.FromSeconds(30));
    }

    /// <inheritdoc />
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        for (var i = _buses.Count - 1; i >= 0; i--)
        {
            await _buses[i].DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>A started node: its id, its bus and what its handler received.</summary>
    protected sealed record Node(string Id, IMessageBus Bus, RecordingHandler Handler)
    {
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

        /// <summary>Publishes a message event with <paramref name="seq"/> on <paramref name="topic"/> as this node.</summary>
        public bool Publish(BusTopic topic, long seq) => Bus.Publish(topic, Events.Message(topic, seq, Id));

        /// <summary>Subscribes, failing the test if that takes longer than 15 s.</summary>
        public Task SubscribeAsync(BusTopic topic) => Bus.SubscribeAsync(topic).WaitAsync(Timeout);

        /// <summary>Unsubscribes, failing the test if that takes longer than 15 s.</summary>
        public Task UnsubscribeAsync(BusTopic topic) => Bus.UnsubscribeAsync(topic).WaitAsync(Timeout);
    }
}
