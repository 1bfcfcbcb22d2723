using Microsoft.Extensions.Logging;
using Parley.Protocol;

namespace Parley.Delivery;

/// <summary>Bus events to sessions, and the healing that does not trust the bus: head checks and reconciliation.</summary>
public sealed partial class Hub
{
    private const int HeadCheckChunk = 500;

    /// <inheritdoc />
    public void OnEvent(BusTopic topic, BusEvent evt)
    {
        if (evt.Kind == BusEventKind.ConversationAdded)
        {
            if (topic.Kind == TopicKind.Users)
            {
                foreach (var session in SessionsOf(evt.Subject))
                {
                    session.Send(evt.Frame);
                }

                _ = AddUserToConversationAsync(evt.Subject, evt.Conv, evt.Seq);
            }

            return;
        }

        if (topic.Kind != TopicKind.Conversation || !_routes.TryGetValue(evt.Conv, out var route))
        {
            return;
        }

        switch (evt.Kind)
        {
            case BusEventKind.Message:
                route.Post(new MessageWork(evt.Seq, evt.Frame));
                break;
            case BusEventKind.Receipt:
            case BusEventKind.MemberJoined:
                route.Post(new BroadcastWork(evt.Frame, null, null));
                break;
            case BusEventKind.Typing:
                route.Post(new BroadcastWork(evt.Frame, evt.Subject, null));
                break;
            case BusEventKind.Presence:
                route.Post(new BroadcastWork(evt.Frame, evt.Subject, evt.Seq == 1));
                break;
            case BusEventKind.PresenceBatch:
                foreach (var news in PresenceNews.Decode(evt.Frame.Span))
                {
                    route.Post(new BroadcastWork(ServerFrames.Presence(news.UserId, news.Online), news.UserId, news.Online));
                }

                break;
            case BusEventKind.MemberLeft:
                var leaving = SessionsOf(evt.Subject);
                foreach (var session in leaving)
                {
                    session.NoteMembershipChanged();
                }

                route.Post(new MemberLeftWork(evt.Subject, evt.Frame));
                foreach (var session in leaving)
                {
                    RemoveSessionFromConversation(session, evt.Conv);
                }

                break;
        }
    }

    /// <inheritdoc />
    public void OnResumed() => _ = HealAsync();

    private async Task HealAsync()
    {
        _log.LogInformation("bus resumed: re-checking conversation heads and memberships against the store");
        await CheckHeadsAsync(CancellationToken.None);
        await ReconcileUsersAsync(CancellationToken.None);
    }

    /// <summary>
    /// Re-reads the last seq of every conversation this node routes and catches up any session behind it: events the
    /// bus lost (a publisher's broker link was down, say) reach members within one check interval.
    /// </summary>
    public async Task CheckHeadsAsync(CancellationToken ct)
    {
        var ids = _routes.Keys.ToList();
        for (var i = 0; i < ids.Count; i += HeadCheckChunk)
        {
            var chunk = ids.GetRange(i, Math.Min(HeadCheckChunk, ids.Count - i));
            IReadOnlyDictionary<string, long> heads;
            try
            {
                heads = await _store.GetLastSeqsAsync(chunk, ct);
            }
            catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
            {
                _log.LogDebug(e, "head check skipped: store unavailable");
                return;
            }

            foreach (var (conv, lastSeq) in heads)
            {
                if (_routes.TryGetValue(conv, out var route))
                {
                    route.Post(new HeadWork(lastSeq));
                }
            }
        }
    }

    /// <summary>
    /// Brings every local session's conversation set in line with the store (joins and leaves announced while the bus
    /// was down): sessions gain the conversations they are missing and stop receiving those they left.
    /// </summary>
    public async Task ReconcileUsersAsync(CancellationToken ct)
    {
        List<string> users;
        lock (_gate)
        {
            users = [.. _users.Keys];
        }

        foreach (var userId in users)
        {
            IReadOnlyList<ConversationView> views;
            try
            {
                views = await _store.ListConversationsAsync(userId, ct);
            }
            catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
            {
                _log.LogDebug(e, "reconciliation skipped: store unavailable");
                return;
            }

            var wanted = views.ToDictionary(v => v.Info.Id, StringComparer.Ordinal);
            foreach (var session in SessionsOf(userId))
            {
                foreach (var conv in session.Conversations.Snapshot().Where(c => !wanted.ContainsKey(c)))
                {
                    session.NoteMembershipChanged();
                    RemoveSessionFromConversation(session, conv);
                }

                foreach (var view in wanted.Values.Where(v => !session.Conversations.Contains(v.Info.Id)).ToList())
                {
                    session.Send(ServerFrames.Conversation(view.ToDto(peerOnline: false)));
                    await SubscribeSessionsAsync([session], view.Info.Id, view.DeliveredSeq);
                }
            }
        }
    }

    /// <summary>
    /// Visits every session once a second until <paramref name="ct"/> is cancelled, one timer for the node instead of one
    /// per connection: closes those whose credentials have expired, and writes what a hello still waiting for its
    /// backlog after a second or more holds (its welcome), so a client hears it was accepted while the store is slow.
    /// </summary>
    public async Task RunExpirySweepAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = Environment.TickCount64;
                foreach (var session in _sessions.Values)
                {
                    if (session.TakeOverdueHello())
                    {
                        session.Flush();
                    }

                    if (session.TakeExpiry(now))
                    {
                        session.Send(ServerFrames.Error("hello", ErrorCodes.Unauthorized, "token expired"));
                        session.Close(CloseCodes.Unauthorized, "token expired");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Runs the periodic head check until <paramref name="ct"/> is cancelled.</summary>
    public async Task RunHeadChecksAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(100, _options.HeadCheckIntervalMs)));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                await CheckHeadsAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
