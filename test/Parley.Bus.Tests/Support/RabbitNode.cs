using Parley.Bus.RabbitMq;
using Xunit.Abstractions;

namespace Parley.Bus.Tests.Support;

/// <summary>A started <see cref="RabbitMqBus"/> node with a recording handler, for tests that need several nodes.</summary>
public sealed class RabbitNode : IAsyncDisposable
{
    private RabbitNode(RabbitMqBus bus, RecordingHandler handler)
    {
        Bus = bus;
        Handler = handler;
    }

    /// <summary>The node's bus.</summary>
    public RabbitMqBus Bus { get; }

    /// <summary>What the node's handler received.</summary>
    public RecordingHandler Handler { get; }

    /// <summary>The node id.</summary>
    public string Id => Bus.NodeId;

    /// <summary>Creates and starts a node with a fresh id on the broker at <paramref name="uri"/>.</summary>
    public static async Task<RabbitNode> StartAsync(string uri, ITestOutputHelper output, string? name = null)
    {
        var id = (name ?? "n") + "-" + Guid.NewGuid().ToString("N")[..8];
        var bus = new RabbitMqBus(new RabbitMqBusOptions { Uri = uri, NodeId = id }, new TestOutputLogger<RabbitMqBus>(output));
        var handler = new RecordingHandler();
        await bus.StartAsync(handler, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        return new RabbitNode(bus, handler);
    }

    /// <summary>Publishes a message event with <paramref name="seq"/> on <paramref name="topic"/> as this node.</summary>
    public bool Publish(BusTopic topic, long seq) => Bus.Publish(topic, Events.Message(topic, seq, Id));

    /// <summary>Subscribes, failing the test if that takes longer than 15 s.</summary>
    public Task SubscribeAsync(BusTopic topic) => Bus.SubscribeAsync(topic).WaitAsync(TimeSpan.FromSeconds(15));

    /// <summary>Unsubscribes, failing the test if that takes longer than 15 s.</summary>
    public Task UnsubscribeAsync(BusTopic topic) => Bus.UnsubscribeAsync(topic).WaitAsync(TimeSpan.FromSeconds(15));

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await Bus.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
}
