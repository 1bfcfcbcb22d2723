using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Parley.Memory;

/// <summary>
/// The bus of the embedded single-node default: delivers this node's publications to this node, in order, from one
/// delivery loop. Choose it when one process serves everyone; it carries nothing between processes.
/// </summary>
public sealed class InMemoryBus : IMessageBus
{
    private readonly Channel<(BusTopic Topic, BusEvent Event)> _queue =
        Channel.CreateBounded<(BusTopic, BusEvent)>(new BoundedChannelOptions(100_000)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

    private readonly ConcurrentDictionary<BusTopic, byte> _subscriptions = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    /// <inheritdoc />
    public bool IsConnected => true;

    /// <summary>The topics this node currently subscribes to (for tests and diagnostics).</summary>
    public IReadOnlyCollection<BusTopic> Subscriptions => (IReadOnlyCollection<BusTopic>)_subscriptions.Keys;

    /// <inheritdoc />
    public Task StartAsync(IBusHandler handler, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _loop = Task.Run(() => DeliverAsync(handler, _stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task DeliverAsync(IBusHandler handler, CancellationToken ct)
    {
        try
        {
            await foreach (var (topic, evt) in _queue.Reader.ReadAllAsync(ct))
            {
                if (_subscriptions.ContainsKey(topic))
                {
                    handler.OnEvent(topic, evt);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc />
    public bool Publish(BusTopic topic, BusEvent evt) =>
        !_subscriptions.ContainsKey(topic) || _queue.Writer.TryWrite((topic, evt));

    /// <inheritdoc />
    public Task SubscribeAsync(BusTopic topic)
    {
        _subscriptions.TryAdd(topic, 0);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task UnsubscribeAsync(BusTopic topic)
    {
        _subscriptions.TryRemove(topic, out _);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<bool> PingAsync(CancellationToken ct) => Task.FromResult(true);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
