using Parley.Memory;

namespace Parley.Server.Tests;

/// <summary>The in-memory bus, with a test's hand on what is published: override <see cref="Publish"/>.</summary>
internal abstract class InMemoryBusDecorator : IMessageBus
{
    /// <summary>The bus that carries what is passed on.</summary>
    protected InMemoryBus Inner { get; } = new();

    public bool IsConnected => Inner.IsConnected;

    public virtual bool Publish(BusTopic topic, BusEvent evt) => Inner.Publish(topic, evt);

    public Task StartAsync(IBusHandler handler, CancellationToken ct) => Inner.StartAsync(handler, ct);

    public Task SubscribeAsync(BusTopic topic) => Inner.SubscribeAsync(topic);

    public Task UnsubscribeAsync(BusTopic topic) => Inner.UnsubscribeAsync(topic);

    public Task<bool> PingAsync(CancellationToken ct) => Inner.PingAsync(ct);

    public ValueTask DisposeAsync() => Inner.DisposeAsync();
}
