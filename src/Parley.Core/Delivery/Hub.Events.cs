using Microsoft.Extensions.Logging;
using Parley.Protocol;

namespace Parley.Delivery;

/// <summary>Bus events to sessions, and the healing that does not trust the bus: head checks and reconciliation.</summary>
public sealed partial class Hub
{
    private const int HeadCheckChunk = 500;

    // Users whose conversations the reconciliation after a bus resume reads at once (one store read).
    private const int ReconcileChunk = 500;

    // The last user the rolling reconciliation reached; only the head-check loop touches it.
    private string? _reconciledUpTo;

    // One reconciliation at a time: the rolling pass and the one after a bus resume would otherwise meet the same stale
    // membership together and both announce it (a second "left" notice, a second conversation frame).
    private readonly SemaphoreSlim _reconciling = new(1, 1);

    /// <inheritdoc />
    public void OnEvent(BusTopic topic, BusEvent evt)
    {
        if (topic.Kind == TopicKind.Users && evt.Kind == BusEventKind.MemberJoined)
        {
            // A new member's own "joined", right after their conversation frame (the conversation's broadcast of it
            // reached the route before their sessions subscribed).
            foreach (var session in SessionsOf(evt.Subject))
            {
                session.Send(evt.Frame);
            }

            return;
        }

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
            case BusEventKind.MemberLeft when evt.Origin != NodeId:
                // A leave made through this node was applied here before it was published (ApplyLeave).
                ApplyMemberLeft(route, evt.Conv, evt.Subject, evt.Frame);
                break;
        }
    }

    /// <summary>
    /// Applies a leave made through this node, before the leaver is answered and whatever the bus does: this node's
    /// sessions of the room (the leaver's included) are told, and the leaver's get nothing of it afterwards. Other nodes
    /// hear of it from the bus event published next; this node ignores its own copy of that event.
    /// </summary>
    public void ApplyLeave(string conv, string userId, ReadOnlyMemory<byte> frame)
    {
        if (_routes.TryGetValue(conv, out var route))
        {
            ApplyMemberLeft(route, conv, userId, frame);
        }
    }

    // The route tells every subscriber (the leaver's sessions too) after what it queued before, and sends the leaver
    // nothing after; then the leaver's sessions let go of the route.
    private void ApplyMemberLeft(ConversationRoute route, string conv, string userId, ReadOnlyMemory<byte> frame)
    {
        var leaving = SessionsOf(userId);
        foreach (var session in leaving)
        {
            session.NoteMembershipChanged();
        }

        route.Post(new MemberLeftWork(userId, frame));
        foreach (var session in leaving)
        {
            RemoveSessionFromConversation(session, conv);
        }
    }

    /// <inheritdoc />
    public void OnResumed() => _ = HealAsync();

    private async Task HealAsync()
    {
        _log.LogInformation("bus resumed: re-checking conversation heads and memberships against the store");
        try
        {
            await CheckHeadsAsync(CancellationToken.None);
            await ReconcileUsersAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            // The periodic head checks and rolling reconciliation heal what this pass did not.
            _log.LogWarning(e, "healing after the bus resumed failed; the periodic checks carry on");
        }
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
        var users = LocalUsers();
        for (var i = 0; i < users.Count; i += ReconcileChunk)
        {
            if (!await ReconcileAsync(users.GetRange(i, Math.Min(ReconcileChunk, users.Count - i)), ct))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Reconciles the next <see cref="ParleyOptions.ReconcileUsersPerCheck"/> local users after the last one a previous call reached (in
    /// ordinal order, wrapping around), so every user is visited in turn at one store read per call. This is what
    /// heals a join or leave whose bus event was lost while this node's own bus stayed up (the publishing node's link
    /// was down, say), which <see cref="OnResumed"/> never hears of: without it a session would keep receiving a
    /// conversation its user left, until it reconnected.
    /// </summary>
    public async Task ReconcileNextUsersAsync(CancellationToken ct)
    {
        var users = LocalUsers();
        if (users.Count == 0)
        {
            return;
        }

        users.Sort(StringComparer.Ordinal);
        var after = _reconciledUpTo is { } last ? users.BinarySearch(last, StringComparer.Ordinal) : -1;
        var from = after >= 0 ? after + 1 : ~after;
        var chunk = users.Skip(from).Concat(users.Take(from)).Take(Math.Max(1, _options.ReconcileUsersPerCheck)).ToList();
        if (await ReconcileAsync(chunk, ct))
        {
            _reconciledUpTo = chunk[^1];
        }
    }

    private List<string> LocalUsers()
    {
        lock (_gate)
        {
            return [.. _users.Keys];
        }
    }

    // One store read for the users' conversations. The read is a moment old when it is applied, and joins and leaves
    // carried by the bus meanwhile are applied at once, so every difference is confirmed by a read of that one
    // membership before the session changes: a reconciliation never undoes a newer join or leave. Sessions still in
    // their hello's attach are left alone (it subscribes them from a read of its own). One pass runs at a time. False:
    // the store was unavailable.
    private async Task<bool> ReconcileAsync(IReadOnlyList<string> users, CancellationToken ct)
    {
        await _reconciling.WaitAsync(ct);
        try
        {
            return await ReconcileExclusiveAsync(users, ct);
        }
        finally
        {
            _reconciling.Release();
        }
    }

    private async Task<bool> ReconcileExclusiveAsync(IReadOnlyList<string> users, CancellationToken ct)
    {
        IReadOnlyDictionary<string, IReadOnlyList<ConversationView>> views;
        try
        {
            views = await _store.ListConversationsOfUsersAsync(users, ct);
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            _log.LogDebug(e, "reconciliation skipped: store unavailable");
            return false;
        }

        try
        {
            foreach (var userId in users)
            {
                var wanted = views.GetValueOrDefault(userId, []).ToDictionary(v => v.Info.Id, StringComparer.Ordinal);
                foreach (var session in SessionsOf(userId).Where(s => s.IsAttached))
                {
                    foreach (var conv in session.Conversations.Snapshot().Where(c => !wanted.ContainsKey(c)))
                    {
                        // The leave's own event was lost: its members (the leaver included) hear of it now, as they would have.
                        // Still a member, or the bus's own leave event got there during the read.
                        if (await _store.GetMembershipAsync(conv, userId, ct) is not null || !session.Conversations.Contains(conv))
                        {
                            continue;
                        }

                        _log.LogInformation("reconciliation: {User} is no longer a member of {Conv}; the node had not heard", userId, conv);
                        if (_routes.TryGetValue(conv, out var route))
                        {
                            ApplyMemberLeft(route, conv, userId, ServerFrames.Member(conv, userId, session.Username, joined: false));
                        }
                        else
                        {
                            session.NoteMembershipChanged();
                            RemoveSessionFromConversation(session, conv);
                        }
                    }

                    foreach (var view in wanted.Values.Where(v => !session.Conversations.Contains(v.Info.Id)).ToList())
                    {
                        if (await _store.GetMembershipAsync(view.Info.Id, userId, ct) is not null && !session.Conversations.Contains(view.Info.Id))
                        {
                            session.Send(ServerFrames.Conversation(view.ToDto(peerOnline: false)));
                            await SubscribeSessionsAsync([session], view.Info.Id, view.DeliveredSeq);
                        }
                    }
                }
            }
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            _log.LogDebug(e, "reconciliation cut short: store unavailable");
            return false;
        }

        return true;
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

    /// <summary>
    /// Runs the periodic head check until <paramref name="ct"/> is cancelled, each followed by the reconciliation of the
    /// next local users (<see cref="ReconcileNextUsersAsync"/>).
    /// </summary>
    public async Task RunHeadChecksAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(100, _options.HeadCheckIntervalMs)));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    await CheckHeadsAsync(ct);
                    await ReconcileNextUsersAsync(ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // Whatever went wrong this time, the healing must not stop for good: the next tick tries again.
                    _log.LogWarning(e, "head check or reconciliation failed; retrying at the next interval");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
