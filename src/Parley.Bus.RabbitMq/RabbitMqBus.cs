using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Bus.RabbitMq.Internal;
using RabbitMQ.Client;

namespace Parley.Bus.RabbitMq;

/// <summary>
/// The bus of a multi-node cluster: one durable topic exchange, one exclusive auto-delete queue per node
/// (<c>parley.node.&lt;NodeId&gt;</c>) bound to the routing keys of the topics the node subscribes to.
/// Choose it when more than one Parley node serves the same users.
/// </summary>
/// <remarks>
/// <para>Delivery is at most once: non-persistent messages, auto-ack consumption, no publisher confirms.</para>
/// <para>This node's own publications reach its handler directly, never through the broker, so a broker outage does
/// not delay them; the copy the broker routes back is ignored.</para>
/// <para>Local and remote events share one delivery loop: the handler is never called concurrently, and
/// <see cref="IBusHandler.OnResumed"/> is called from that same loop.</para>
/// <para>The bus reconnects by itself (backoff 0.2 s doubling to 5 s), redeclares its queue, rebinds every subscribed
/// topic, and then calls <see cref="IBusHandler.OnResumed"/>.</para>
/// </remarks>
public sealed partial class RabbitMqBus : IMessageBus
{
    private readonly RabbitMqBusOptions _options;
    private readonly ILogger _logger;
    private readonly ConnectionFactory _factory;
    private readonly string _queueName;
    private readonly ConcurrentDictionary<BusTopic, byte> _wanted = new();
    private readonly Channel<Delivery> _deliveries;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Session? _session;
    private volatile bool _connected;
    private int _started;
    private int _disposed;
    private Task _deliveryLoop = Task.CompletedTask;
    private Task _publishLoop = Task.CompletedTask;
    private Task _connectionLoop = Task.CompletedTask;

    /// <summary>Creates a bus for one node; nothing connects before <see cref="StartAsync"/>.</summary>
    public RabbitMqBus(RabbitMqBusOptions options, ILogger<RabbitMqBus>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _queueName = "parley.node." + options.NodeId;
        _factory = new ConnectionFactory
        {
            Uri = new Uri(options.Uri),
            ClientProvidedName = "parley node " + options.NodeId,

            // Recovery is this class's own loop: it must rebind the wanted set and tell the handler afterwards.
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
            HandshakeContinuationTimeout = TimeSpan.FromSeconds(5),
            ContinuationTimeout = TimeSpan.FromSeconds(10),
        };
        _outgoing = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(options.MaxPendingPublishes)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _deliveries = Channel.CreateBounded<Delivery>(new BoundedChannelOptions(options.MaxPendingPublishes)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>This node's id.</summary>
    public string NodeId => _options.NodeId;

    /// <summary>The name of this node's queue on the broker.</summary>
    public string QueueName => _queueName;

    /// <inheritdoc />
    public bool IsConnected => _connected && Volatile.Read(ref _session) is { IsLost: false };

    /// <summary>The topics this node currently subscribes to (for diagnostics and tests).</summary>
    public IReadOnlyCollection<BusTopic> Subscriptions => (IReadOnlyCollection<BusTopic>)_wanted.Keys;

    /// <inheritdoc />
    /// <remarks>Returns after the first connection attempt, whether it succeeded or not.</remarks>
    public async Task StartAsync(IBusHandler handler, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The bus is already started.");
        }

        _deliveryLoop = Task.Run(() => RunDeliveryAsync(handler, _stop.Token), CancellationToken.None);
        _publishLoop = Task.Run(() => RunPublisherAsync(_stop.Token), CancellationToken.None);
        _connectionLoop = Task.Run(() => RunConnectionAsync(_stop.Token), CancellationToken.None);
        await _firstAttempt.Task.WaitAsync(ct);
    }

    /// <inheritdoc />
    /// <remarks>Opens and closes a channel on the current connection: a real round trip to the broker.</remarks>
    public async Task<bool> PingAsync(CancellationToken ct)
    {
        var session = Volatile.Read(ref _session);
        if (!_connected || session is null || session.IsLost)
        {
            return false;
        }

        try
        {
            var channel = await session.Connection.CreateChannelAsync(cancellationToken: ct);
            await using (channel)
            {
                await channel.CloseAsync(ct);
            }

            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Flushes what is queued for the broker (for up to 2 s), then closes the connection and stops delivering.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _outgoing.Writer.TryComplete();
        try
        {
            await _publishLoop.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            LogFlushTimedOut(_logger, _options.NodeId);
        }

        await _stop.CancelAsync();
        _deliveries.Writer.TryComplete();
        await Task.WhenAll(_connectionLoop, _publishLoop, _deliveryLoop);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bus {NodeId}: pending publications were not flushed within 2 s of shutdown; they are dropped")]
    private static partial void LogFlushTimedOut(ILogger logger, string nodeId);
}
