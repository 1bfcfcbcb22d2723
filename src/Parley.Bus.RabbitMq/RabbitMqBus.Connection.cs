using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Parley.Bus.RabbitMq.Internal;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Parley.Bus.RabbitMq;

/// <summary>The connection loop: connect, declare, rebind, serve subscription changes, and start over when lost.</summary>
public sealed partial class RabbitMqBus
{
    private static readonly TimeSpan MinReconnectDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(5);

    // One attempt (connect, handshake, two channels, declare, consume) ends by then whatever the client library's own
    // timeouts do, so a broker that accepts TCP and then says nothing cannot hold the loop.
    private static readonly TimeSpan ConnectAttemptTimeout = TimeSpan.FromSeconds(20);

    private async Task RunConnectionAsync(CancellationToken ct)
    {
        var delay = MinReconnectDelay;
        var eventsMayHaveBeenLost = false;
        while (!ct.IsCancellationRequested)
        {
            Session? session = null;
            try
            {
                using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    attempt.CancelAfter(ConnectAttemptTimeout);
                    session = await ConnectAsync(attempt.Token);
                }

                // Published before the rebind so that a topic subscribed meanwhile is either in the rebind's view of the
                // wanted set or queued as a request that is served right after it (see SubscribeAsync).
                Interlocked.Exchange(ref _session, session);
                var watch = Stopwatch.StartNew();
                var bound = await RebindAllAsync(session, ct);
                _connected = true;
                delay = MinReconnectDelay;
                LogConnected(_logger, _options.NodeId, _queueName, bound, watch.ElapsedMilliseconds);
                _firstAttempt.TrySetResult();
                if (eventsMayHaveBeenLost)
                {
                    await _deliveries.Writer.WriteAsync(Delivery.Resumed, ct);
                }

                eventsMayHaveBeenLost = true;
                await ServeTopologyAsync(session, ct);
                LogLost(_logger, _options.NodeId, session.Reason);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                eventsMayHaveBeenLost = true;
                LogConnectFailed(_logger, _options.NodeId, ex.GetType().Name, ex.Message, delay.TotalSeconds);
            }
            finally
            {
                _connected = false;
                Interlocked.Exchange(ref _session, null);
                if (session is not null && !await session.DisposeBoundedAsync())
                {
                    LogCloseAbandoned(_logger, _options.NodeId);
                }

                _firstAttempt.TrySetResult();
            }

            try
            {
                // Jitter keeps the nodes of a cluster from reconnecting in lockstep after a broker restart.
                await Task.Delay(delay * (0.8 + (0.4 * Random.Shared.NextDouble())), ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxReconnectDelay.Ticks));
        }
    }

    private async Task<Session> ConnectAsync(CancellationToken ct)
    {
        var connection = await _factory.CreateConnectionAsync(ct);
        try
        {
            var channel = await connection.CreateChannelAsync(cancellationToken: ct);
            var publisher = await connection.CreateChannelAsync(cancellationToken: ct);
            var session = new Session(connection, channel, publisher);
            await channel.ExchangeDeclareAsync(_options.Exchange, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: ct);

            // Exclusive + auto-delete: the queue lives exactly as long as this connection, so a dead node's queue goes
            // away with it instead of collecting messages nobody reads.
            await channel.QueueDeclareAsync(_queueName, durable: false, exclusive: true, autoDelete: true, arguments: null, cancellationToken: ct);

            // Auto-ack: at most once, as the bus promises. No basic.qos: AMQP ignores the prefetch count for no-ack
            // consumers; memory stays bounded because OnReceivedAsync drops when the delivery queue is full.
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += OnReceivedAsync;
            await channel.BasicConsumeAsync(_queueName, autoAck: true, consumerTag: "", noLocal: false, exclusive: true, arguments: null, consumer, ct);
            return session;
        }
        catch
        {
            if (!await Session.DiscardAsync(connection, polite: false, TimeSpan.FromSeconds(1)))
            {
                LogCloseAbandoned(_logger, _options.NodeId);
            }

            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Bus {NodeId}: connected, queue {Queue}, {Topics} topics bound in {Ms} ms")]
    private static partial void LogConnected(ILogger logger, string nodeId, string queue, int topics, long ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: connection lost ({Reason}); reconnecting")]
    private static partial void LogLost(ILogger logger, string nodeId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: the client library did not finish closing a lost connection in time; left to it, reconnecting")]
    private static partial void LogCloseAbandoned(ILogger logger, string nodeId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: broker unavailable or connection failed ({Error}: {Message}); retrying in {Seconds} s")]
    private static partial void LogConnectFailed(ILogger logger, string nodeId, string error, string message, double seconds);
}
