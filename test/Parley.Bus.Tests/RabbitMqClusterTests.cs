using System.Text;
using Parley.Bus.RabbitMq;
using Parley.Bus.Tests.Support;
using Parley.Testing;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace Parley.Bus.Tests;

/// <summary>RabbitMQ-only behaviour: several nodes on the shared broker, checked against what the broker itself reports.</summary>
[Trait("Tier", "Bus")]
public sealed class RabbitMqClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<RabbitNode> _nodes = [];
    private RabbitMqServer _server = null!;

    public async Task InitializeAsync() => _server = await RabbitMqServer.Shared;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    private async Task<RabbitNode> NodeAsync(string name)
    {
        var node = await RabbitNode.StartAsync(_server.Uri, output, name);
        _nodes.Add(node);
        return node;
    }

    [Fact]
    public async Task Cross_node_delivery_reaches_only_the_nodes_bound_to_the_topic()
    {
        var a = await NodeAsync("a");
        var b = await NodeAsync("b");
        var c = await NodeAsync("c");
        var t1 = Events.NewConversation();
        var t2 = Events.NewConversation();
        var u = Events.NewConversation();
        await a.SubscribeAsync(t1);
        await b.SubscribeAsync(t2);
        await b.SubscribeAsync(u);

        var bindings = await BrokerState.AllBindingsAsync(_server);
        Assert.Equal([t1.RoutingKey], bindings[a.Bus.QueueName]);
        Assert.Equal(new[] { t2.RoutingKey, u.RoutingKey }.Order(StringComparer.Ordinal), bindings[b.Bus.QueueName]);
        Assert.False(bindings.ContainsKey(c.Bus.QueueName));

        c.Publish(t1, 1);
        c.Publish(t2, 1);
        c.Publish(u, 1);
        await a.Handler.WaitForAsync(t1, 1);
        await b.Handler.WaitForAsync(t2, 1);
        await b.Handler.WaitForAsync(u, 1);

        await a.UnsubscribeAsync(t1);
        Assert.Empty(await BrokerState.BindingsAsync(_server, a.Bus.QueueName));
        c.Publish(t1, 2);
        c.Publish(t2, 2);
        await b.Handler.WaitForAsync(t2, 2);

        // The broker sent each node exactly what its bindings asked for: nothing reached A after its unbind, nor C ever.
        Assert.Equal(1, a.Bus.Counters.Received);
        Assert.Equal(3, b.Bus.Counters.Received);
        Assert.Equal(0, c.Bus.Counters.Received);
        Assert.Equal([1L], a.Handler.On(t1).Seqs());
        Assert.Empty(a.Handler.On(t2));
        Assert.Empty(c.Handler.All);
    }

    [Fact]
    public async Task Bindings_follow_subscriptions_idempotently()
    {
        var a = await NodeAsync("a");
        var t = Events.NewConversation();
        var u = Events.NewConversation();

        await a.SubscribeAsync(t);
        await a.SubscribeAsync(t);
        await a.SubscribeAsync(u);
        Assert.Equal(new[] { t.RoutingKey, u.RoutingKey }.Order(StringComparer.Ordinal), await BrokerState.BindingsAsync(_server, a.Bus.QueueName));

        await a.UnsubscribeAsync(t);
        await a.UnsubscribeAsync(t);
        Assert.Equal([u.RoutingKey], await BrokerState.BindingsAsync(_server, a.Bus.QueueName));

        await a.SubscribeAsync(t);
        await a.UnsubscribeAsync(u);
        Assert.Equal([t.RoutingKey], await BrokerState.BindingsAsync(_server, a.Bus.QueueName));
        Assert.Equal([t], a.Bus.Subscriptions);
    }

    [Fact]
    public async Task A_node_queue_is_exclusive_and_disappears_when_the_node_is_disposed()
    {
        var a = await NodeAsync("a");
        var queues = await BrokerState.QueuesAsync(_server);
        Assert.True(queues.TryGetValue("parley.node." + a.Id, out var flags), $"no queue parley.node.{a.Id}");
        Assert.Equal((false, true, true), flags);

        await a.DisposeAsync();
        Assert.False(a.Bus.IsConnected);

        // The broker deletes an exclusive queue as its connection closes, possibly just after answering the close.
        await Eventually.TrueAsync(
            async () => !(await BrokerState.QueuesAsync(_server)).ContainsKey(a.Bus.QueueName),
            TimeSpan.FromSeconds(10),
            $"queue {a.Bus.QueueName} to be deleted",
            TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Events_of_two_publishers_keep_each_publisher_order_on_a_third_node()
    {
        const int PerPublisher = 5_000;
        var p1 = await NodeAsync("p1");
        var p2 = await NodeAsync("p2");
        var r = await NodeAsync("r");
        var t = Events.NewConversation();
        await r.SubscribeAsync(t);

        var publishing = new[] { p1, p2 }.Select(p => Task.Run(() =>
        {
            for (var seq = 1; seq <= PerPublisher; seq++)
            {
                Assert.True(p.Publish(t, seq));
            }
        }));
        await Task.WhenAll(publishing);
        await r.Handler.WaitForAsync(t, 2 * PerPublisher, TimeSpan.FromSeconds(30));

        var expected = Enumerable.Range(1, PerPublisher).Select(i => (long)i).ToArray();
        Assert.Equal(expected, r.Handler.On(t).Where(e => e.Origin == p1.Id).Seqs());
        Assert.Equal(expected, r.Handler.On(t).Where(e => e.Origin == p2.Id).Seqs());
        Assert.Equal(0, r.Handler.Overlaps);
    }

    [Fact]
    public async Task Wildcard_topic_ids_are_refused_for_subscriptions()
    {
        var a = await NodeAsync("a");

        await Assert.ThrowsAsync<ArgumentException>(() => a.Bus.SubscribeAsync(BusTopic.ForConversation("#")));
        await Assert.ThrowsAsync<ArgumentException>(() => a.Bus.SubscribeAsync(BusTopic.ForConversation("a*")));
        Assert.Empty(a.Bus.Subscriptions);
    }

    [Fact]
    public async Task A_throwing_handler_does_not_stop_delivery()
    {
        var t = Events.NewConversation();
        var handler = new RecordingHandler { ThrowOn = e => e.Seq == 1 };
        await using var bus = new RabbitMqBus(new RabbitMqBusOptions { Uri = _server.Uri, NodeId = "h-" + Guid.NewGuid().ToString("N")[..8] });
        await bus.StartAsync(handler, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await bus.SubscribeAsync(t).WaitAsync(TimeSpan.FromSeconds(15));
        var other = await NodeAsync("o");

        Assert.True(bus.Publish(t, Events.Message(t, 1, bus.NodeId)));
        Assert.True(bus.Publish(t, Events.Message(t, 2, bus.NodeId)));
        Assert.True(other.Publish(t, 3));
        Assert.True(other.Publish(t, 4));
        await handler.WaitForAsync(t, 3);

        Assert.Equal([2L, 3L, 4L], handler.On(t).Seqs());
    }

    [Fact]
    public async Task Malformed_messages_are_dropped_and_delivery_goes_on()
    {
        var a = await NodeAsync("a");
        var t = Events.NewConversation();
        await a.SubscribeAsync(t);

        var factory = new ConnectionFactory { Uri = new Uri(_server.Uri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var body = Encoding.UTF8.GetBytes("{}");
        BasicProperties Valid() => new()
        {
            Type = "1",
            AppId = "other-node",
            Headers = new Dictionary<string, object?> { ["conv"] = t.Id, ["seq"] = 7L, ["subject"] = "" },
        };
        var malformed = new List<BasicProperties>();
        malformed.Add(Valid().With(p => p.Type = null));
        malformed.Add(Valid().With(p => p.Type = "msg"));
        malformed.Add(Valid().With(p => p.Type = "99"));
        malformed.Add(Valid().With(p => p.AppId = null));
        malformed.Add(Valid().With(p => p.Headers = null));
        malformed.Add(Valid().With(p => p.Headers!.Remove("seq")));
        malformed.Add(Valid().With(p => p.Headers!["seq"] = "7"));
        malformed.Add(Valid().With(p => p.Headers!["seq"] = -1L));
        malformed.Add(Valid().With(p => p.Headers!["conv"] = new byte[] { 0xff, 0xfe }));
        foreach (var properties in malformed)
        {
            await channel.BasicPublishAsync("parley", t.RoutingKey, mandatory: false, properties, body);
        }

        await channel.BasicPublishAsync("parley", t.RoutingKey, mandatory: false, Valid(), body);
        await a.Handler.WaitForAsync(t, 1);

        Assert.Equal(malformed.Count, a.Bus.Counters.Malformed);
        var evt = Assert.Single(a.Handler.On(t));
        Assert.Equal((BusEventKind.Message, t.Id, 7L, "", "other-node"), (evt.Kind, evt.Conv, evt.Seq, evt.Subject, evt.Origin));
        Assert.True(a.Bus.IsConnected);
    }
}
