namespace Parley.Bus.RabbitMq;

/// <summary>What a <see cref="RabbitMqBus"/> did since it started.</summary>
/// <param name="Published">Events handed to the broker.</param>
/// <param name="Dropped">Events not sent to the broker, or not handed to the handler, because the bus was down, a queue was
/// full, or a send failed.</param>
/// <param name="Received">Events from other nodes accepted for delivery.</param>
/// <param name="EchoesIgnored">This node's own events routed back by the broker and ignored (already delivered locally).</param>
/// <param name="Malformed">Incoming messages that were not valid bus events and were dropped.</param>
public readonly record struct RabbitMqBusCounters(long Published, long Dropped, long Received, long EchoesIgnored, long Malformed);
