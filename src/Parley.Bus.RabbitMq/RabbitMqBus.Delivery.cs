using Microsoft.Extensions.Logging;
using Parley.Bus.RabbitMq.Internal;
using RabbitMQ.Client.Events;

namespace Parley.Bus.RabbitMq;

/// <summary>Delivery: local publications and broker messages meet in one bounded queue drained by one loop.</summary>
public sealed partial class RabbitMqBus
{
    private long _received;
    private long _echoes;
    private long _malformed;
    private bool _overflowing;

    /// <summary>Counters since start, for metrics and tests.</summary>
    public RabbitMqBusCounters Counters => new(
        Published: Interlocked.Read(ref _published),
        Dropped: Interlocked.Read(ref _dropped),
        Received: Interlocked.Read(ref _received),
        EchoesIgnored: Interlocked.Read(ref _echoes),
        Malformed: Interlocked.Read(ref _malformed));

    private async Task RunDeliveryAsync(IBusHandler handler, CancellationToken ct)
    {
        try
        {
            await foreach (var delivery in _deliveries.Reader.ReadAllAsync(ct))
            {
                try
                {
                    if (delivery.Event is null)
                    {
                        handler.OnResumed();
                    }
                    else if (_wanted.ContainsKey(delivery.Topic))
                    {
                        // Checked again here: an unsubscribe stops delivery at once, even of events already queued.
                        handler.OnEvent(delivery.Topic, delivery.Event);
                    }
                }
                catch (Exception ex)
                {
                    LogHandlerFailed(_logger, _options.NodeId, ex);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private Task OnReceivedAsync(object sender, BasicDeliverEventArgs args)
    {
        try
        {
            var properties = args.BasicProperties;
            if (properties.AppId == _options.NodeId)
            {
                // Our own publication routed back: the handler already had it from Publish.
                Interlocked.Increment(ref _echoes);
                return Task.CompletedTask;
            }

            if (!BusWire.TryRead(args.RoutingKey, properties, args.Body, out var topic, out var evt, out var problem))
            {
                Interlocked.Increment(ref _malformed);
                LogMalformed(_logger, _options.NodeId, args.RoutingKey, problem);
                return Task.CompletedTask;
            }

            Interlocked.Increment(ref _received);

            // Dropped rather than awaited when the handler is this far behind: the client buffers deliveries without
            // bound (auto-ack has no prefetch window), so waiting would only move the backlog into its memory.
            if (_deliveries.Writer.TryWrite(new Delivery(topic, evt)))
            {
                _overflowing = false;
            }
            else
            {
                Interlocked.Increment(ref _dropped);
                if (!_overflowing)
                {
                    _overflowing = true;
                    LogOverflow(_logger, _options.NodeId, _options.MaxPendingPublishes);
                }
            }
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _malformed);
            LogMalformed(_logger, _options.NodeId, args.RoutingKey, ex.Message);
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: {Capacity} events wait for the handler; incoming events are dropped until it catches up")]
    private static partial void LogOverflow(ILogger logger, string nodeId, int capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: dropped a malformed message on {RoutingKey}: {Problem}")]
    private static partial void LogMalformed(ILogger logger, string nodeId, string routingKey, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Bus {NodeId}: the handler threw; delivery goes on")]
    private static partial void LogHandlerFailed(ILogger logger, string nodeId, Exception exception);

    /// <summary>One item of the delivery queue; a null event means "the bus resumed".</summary>
    private readonly record struct Delivery(BusTopic Topic, BusEvent? Event)
    {
        public static Delivery Resumed => new(default, null);
    }
}
