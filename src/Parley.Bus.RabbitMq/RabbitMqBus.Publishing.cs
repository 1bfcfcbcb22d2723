using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Parley.Bus.RabbitMq.Internal;
using RabbitMQ.Client;

namespace Parley.Bus.RabbitMq;

/// <summary>Publishing: a bounded outgoing queue that one loop drains onto the session's publishing channel.</summary>
public sealed partial class RabbitMqBus
{
    private const int MaxPublishBatch = 512;

    private readonly Channel<Outgoing> _outgoing;
    private long _published;
    private long _dropped;

    /// <inheritdoc />
    /// <remarks>
    /// The event reaches this node's handler at once when this node subscribes to <paramref name="topic"/>, even while
    /// the broker is down. For other nodes it is queued for the broker; it is dropped (and false returned) while the bus
    /// is disconnected or when the outgoing queue is full. <see cref="BusEvent.Origin"/> must be this node's id: the
    /// copy the broker routes back is recognised by it.
    /// </remarks>
    public bool Publish(BusTopic topic, BusEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        var delivered = !_wanted.ContainsKey(topic) || _deliveries.Writer.TryWrite(new Delivery(topic, evt));
        // IsConnected, not the loop's flag alone: the connection can be seen lost (IsConnected false) a moment before the
        // reconnect loop clears the flag, and a publish in that moment would be accepted only to be dropped.
        var queued = IsConnected && _outgoing.Writer.TryWrite(new Outgoing(topic, evt));
        if (!queued || !delivered)
        {
            Interlocked.Increment(ref _dropped);
        }

        return queued && delivered;
    }

    private async Task RunPublisherAsync(CancellationToken ct)
    {
        var reader = _outgoing.Reader;
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                var session = Volatile.Read(ref _session);
                if (!_connected || session is null || session.IsLost)
                {
                    // Queued before the connection was lost: at most once means these are dropped, not replayed late.
                    while (reader.TryRead(out _))
                    {
                        Interlocked.Increment(ref _dropped);
                    }

                    continue;
                }

                await PublishBatchAsync(session, reader, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task PublishBatchAsync(Session session, ChannelReader<Outgoing> reader, CancellationToken ct)
    {
        // Without confirms a publish normally completes synchronously once its frames are in the connection's write
        // buffer; draining what is queued before waiting again lets the client write many messages per socket flush.
        for (var n = 0; n < MaxPublishBatch && reader.TryRead(out var item); n++)
        {
            try
            {
                await session.Publisher.BasicPublishAsync(
                    _options.Exchange,
                    item.Topic.RoutingKey,
                    mandatory: false,
                    BusWire.CreateProperties(item.Event),
                    item.Event.Frame,
                    ct);
                _published++;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _dropped);
                if (!session.Publisher.IsOpen || !session.Connection.IsOpen)
                {
                    session.MarkLost();
                    return;
                }

                // The connection is fine, so the event itself could not be encoded (e.g. an origin over 255 bytes).
                LogPublishFailed(_logger, _options.NodeId, item.Topic.RoutingKey, ex.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: could not publish to {RoutingKey}, event dropped: {Error}")]
    private static partial void LogPublishFailed(ILogger logger, string nodeId, string routingKey, string error);

    private readonly record struct Outgoing(BusTopic Topic, BusEvent Event);
}
