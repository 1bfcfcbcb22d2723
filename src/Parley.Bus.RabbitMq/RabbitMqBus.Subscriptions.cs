using System.Threading.Channels;
using Parley.Bus.RabbitMq.Internal;

namespace Parley.Bus.RabbitMq;

/// <summary>
/// Subscriptions: the wanted set is the truth, kept in memory; the connection loop alone talks to the broker about
/// bindings and reconciles each requested topic with the wanted set at the time it runs, so racing subscribe and
/// unsubscribe calls end in the state of the last call, and a reconnect simply rebinds the whole set.
/// </summary>
public sealed partial class RabbitMqBus
{
    private const int MaxTopologyBatch = 4096;

    private readonly Channel<TopologyRequest> _topology =
        Channel.CreateUnbounded<TopologyRequest>(new UnboundedChannelOptions { SingleReader = true });

    // Owned by the connection loop: the topics bound on the current session's queue.
    private readonly HashSet<BusTopic> _bound = [];

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The topic id is empty, longer than 200 characters, or contains <c>*</c> or <c>#</c>.</exception>
    public Task SubscribeAsync(BusTopic topic)
    {
        BusWire.ThrowIfUnbindable(topic);
        _wanted.TryAdd(topic, 0);
        return ApplyAsync(topic);
    }

    /// <inheritdoc />
    public Task UnsubscribeAsync(BusTopic topic)
    {
        _wanted.TryRemove(topic, out _);
        return ApplyAsync(topic);
    }

    private async Task ApplyAsync(BusTopic topic)
    {
        // Pairs with the connection loop, which publishes its session before reading the wanted set: either the loop
        // sees this topic in the set, or this call sees the session and queues a request (a full fence on both sides).
        Interlocked.MemoryBarrier();
        var session = Volatile.Read(ref _session);
        if (session is null || session.IsLost)
        {
            return;
        }

        var request = new TopologyRequest(topic);
        if (!_topology.Writer.TryWrite(request))
        {
            return;
        }

        // A lost session answers at once: the broker is down, and the wanted set is applied on reconnection.
        await Task.WhenAny(request.Done.Task, session.Lost);
    }

    private async Task<int> RebindAllAsync(Session session, CancellationToken ct)
    {
        _bound.Clear();
        var topics = _wanted.Keys.ToArray();
        for (var i = 0; i < topics.Length; i++)
        {
            // Only the last bind waits for the broker's answer: a channel processes methods in order, so its bind-ok
            // confirms every bind before it (a failed one closes the channel, and this await throws).
            var last = i == topics.Length - 1;
            await session.Channel.QueueBindAsync(_queueName, _options.Exchange, topics[i].RoutingKey, arguments: null, noWait: !last, ct);
            _bound.Add(topics[i]);
        }

        return topics.Length;
    }

    private async Task ServeTopologyAsync(Session session, CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, session.LostToken);
        var batch = new List<TopologyRequest>();
        var changes = new List<(BusTopic Topic, bool Bind)>();
        var seen = new HashSet<BusTopic>();
        while (true)
        {
            try
            {
                if (!await _topology.Reader.WaitToReadAsync(linked.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (session.IsLost && !ct.IsCancellationRequested)
            {
                return;
            }

            batch.Clear();
            changes.Clear();
            seen.Clear();
            while (batch.Count < MaxTopologyBatch && _topology.Reader.TryRead(out var request))
            {
                batch.Add(request);
                if (seen.Add(request.Topic))
                {
                    var wanted = _wanted.ContainsKey(request.Topic);
                    if (wanted != _bound.Contains(request.Topic))
                    {
                        changes.Add((request.Topic, wanted));
                    }
                }
            }

            try
            {
                for (var i = 0; i < changes.Count; i++)
                {
                    var (topic, bind) = changes[i];
                    if (bind)
                    {
                        await session.Channel.QueueBindAsync(_queueName, _options.Exchange, topic.RoutingKey, arguments: null, noWait: i < changes.Count - 1, ct);
                        _bound.Add(topic);
                    }
                    else
                    {
                        // queue.unbind has no no-wait form in AMQP 0-9-1; its answer also confirms the binds before it.
                        await session.Channel.QueueUnbindAsync(_queueName, _options.Exchange, topic.RoutingKey, arguments: null, ct);
                        _bound.Remove(topic);
                    }
                }
            }
            finally
            {
                foreach (var request in batch)
                {
                    request.Done.TrySetResult();
                }
            }
        }
    }

    /// <summary>A request to bring one topic's binding in line with the wanted set.</summary>
    private sealed class TopologyRequest(BusTopic topic)
    {
        public BusTopic Topic { get; } = topic;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
