using Microsoft.Extensions.Logging;

namespace Parley.Delivery;

/// <summary>
/// Holder counts and bus subscriptions: a conversation's topic is bound while at least one local session needs it (and
/// lingers a while after); the users' topic is bound for as long as the node runs.
/// </summary>
public sealed partial class Hub
{
    private ConversationRoute AcquireRoute(string convId)
    {
        lock (_gate)
        {
            if (!_routes.TryGetValue(convId, out var route))
            {
                route = new ConversationRoute(convId, _routeContext);
                route.Bound = Bind(BusTopic.ForConversation(convId));
                _routes[convId] = route;
            }

            route.Holders++;
            return route;
        }
    }

    private void ReleaseRoute(string convId)
    {
        lock (_gate)
        {
            if (!_routes.TryGetValue(convId, out var route) || --route.Holders > 0)
            {
                return;
            }

            _routes.TryRemove(convId, out _);
            Linger(BusTopic.ForConversation(convId));
        }
    }

    /// <summary>
    /// Subscribes this node to events addressed to users (<see cref="BusTopic.Users"/>), once, for as long as it runs:
    /// a user's connecting or leaving costs the broker nothing. Completes when the subscription is in effect (or the bus
    /// is found down: it is applied on reconnection).
    /// </summary>
    internal Task SubscribeUserEventsAsync()
    {
        lock (_gate)
        {
            return _usersSubscription ??= ApplyTopicOpAsync(BusTopic.Users, subscribe: true);
        }
    }

    private void AcquireUser(Session session)
    {
        lock (_gate)
        {
            if (!_users.TryGetValue(session.UserId, out var entry))
            {
                entry = new UserEntry();
                _users[session.UserId] = entry;
            }

            entry.Add(session);
        }
    }

    private void ReleaseUser(Session session)
    {
        lock (_gate)
        {
            if (_users.TryGetValue(session.UserId, out var entry) && entry.Remove(session) && entry.Sessions.Length == 0)
            {
                _users.Remove(session.UserId);
            }
        }
    }

    // A topic still lingering is still bound: taking it back costs the broker nothing. Called under _gate.
    private Task Bind(BusTopic topic)
    {
        if (_lingering.Remove(topic))
        {
            return _topicOps.TryGetValue(topic, out var pending) ? pending : Task.CompletedTask;
        }

        return ChainTopicOp(topic, subscribe: true);
    }

    // The last holder left: unbind after TopicLingerMs unless the topic is needed again by then. Events that arrive
    // meanwhile find no route or session and are dropped. Called under _gate.
    private void Linger(BusTopic topic)
    {
        if (_options.TopicLingerMs <= 0)
        {
            _ = ChainTopicOp(topic, subscribe: false);
            return;
        }

        _lingering.Add(topic);
        _ = Task.Delay(_options.TopicLingerMs).ContinueWith(
            _ =>
            {
                lock (_gate)
                {
                    if (_lingering.Remove(topic))
                    {
                        _ = ChainTopicOp(topic, subscribe: false);
                    }
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default);
    }

    private async Task ApplyTopicOpAsync(BusTopic topic, bool subscribe)
    {
        try
        {
            await (subscribe ? _bus.SubscribeAsync(topic) : _bus.UnsubscribeAsync(topic));
        }
        catch (Exception e)
        {
            // The bus re-applies wanted subscriptions when it reconnects; head checks heal what was missed meanwhile.
            _log.LogWarning(e, "bus {Op} of {Topic} failed", subscribe ? "subscribe" : "unsubscribe", topic);
        }
    }

    // Bind and unbind of one topic run one after another in call order, so a quick release-then-acquire cannot end
    // with the topic unbound while a session needs it. Called under _gate.
    private Task ChainTopicOp(BusTopic topic, bool subscribe)
    {
        _topicOps.TryGetValue(topic, out var previous);
        previous ??= Task.CompletedTask;
        var next = previous.ContinueWith(
            _ => ApplyTopicOpAsync(topic, subscribe),
            CancellationToken.None,
            TaskContinuationOptions.None,
            TaskScheduler.Default).Unwrap();
        _topicOps[topic] = next;
        _ = next.ContinueWith(
            t =>
            {
                lock (_gate)
                {
                    if (_topicOps.TryGetValue(topic, out var last) && last == t)
                    {
                        _topicOps.Remove(topic);
                    }
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return next;
    }
}
