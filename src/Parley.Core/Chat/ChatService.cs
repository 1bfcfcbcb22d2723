using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Parley.Delivery;
using Parley.Diagnostics;
using Parley.Protocol;

namespace Parley.Chat;

/// <summary>
/// Every chat operation of protocol v1, shared by REST and WebSocket: validation, authorization (membership, ownership),
/// the store call, and the events announcing the change. Refusals throw <see cref="ParleyException"/> and change nothing.
/// </summary>
public sealed class ChatService
{
    private readonly IChatStore _store;
    private readonly Hub _hub;
    private readonly GroupCommitter<AppendRequest, AppendResult> _messages;
    private readonly GroupCommitter<WatermarkUpdate, WatermarkResult> _watermarks;
    private readonly IPresenceStore _presence;
    private readonly SendRateLimiter _sendLimiter;
    private readonly ILogger<ChatService> _log;

    /// <summary>Creates the service.</summary>
    public ChatService(
        IChatStore store,
        Hub hub,
        GroupCommitter<AppendRequest, AppendResult> messages,
        GroupCommitter<WatermarkUpdate, WatermarkResult> watermarks,
        IPresenceStore presence,
        SendRateLimiter sendLimiter,
        ILogger<ChatService> log)
    {
        _store = store;
        _hub = hub;
        _messages = messages;
        _watermarks = watermarks;
        _presence = presence;
        _sendLimiter = sendLimiter;
        _log = log;
    }

    /// <summary>
    /// Each acknowledged send (stored, or a retry answered with its original), from the call until the commit's answer:
    /// validation, rate limit, the wait for a commit and the commit.
    /// </summary>
    public LatencyHistogram SendTimes { get; } = new();

    private string NodeId => _hub.NodeId;

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // ---- messages ----

    /// <summary>
    /// Stores a message and answers after commit: the stored message, or the original one on a retry
    /// (<c>Duplicate</c> true). Members hear of it through the bus.
    /// </summary>
    public async Task<(StoredMessage Message, bool Duplicate)> SendAsync(UserRef sender, string conv, string clientMsgId, string body)
    {
        if (!ProtocolRules.IsValidId(conv) || !ProtocolRules.IsValidId(clientMsgId))
        {
            throw ParleyException.Invalid("conv and clientMsgId must be 1-64 characters of [A-Za-z0-9_-]");
        }

        var bodyError = ProtocolRules.CheckBody(body);
        if (bodyError is not null)
        {
            throw new ParleyException(bodyError, bodyError == ErrorCodes.TooLarge ? "body over 4000 characters" : "body must be 1-4000 characters without NUL");
        }

        if (!_sendLimiter.TryAcquire(sender.UserId))
        {
            throw new ParleyException(ErrorCodes.RateLimited, "too many messages; slow down");
        }

        var started = Stopwatch.GetTimestamp();
        var request = new AppendRequest(conv, sender.UserId, sender.Username, clientMsgId, Ids.New("m", 20), body, Now(), NodeId);
        AppendResult result;
        try
        {
            result = await _messages.SubmitAsync(request);
        }
        catch (StoreUnavailableException e)
        {
            throw ParleyException.Unavailable(e.Message);
        }

        if (result.Status is AppendStatus.Stored or AppendStatus.Duplicate)
        {
            SendTimes.RecordSince(started);
        }

        return result.Status switch
        {
            AppendStatus.Stored => (result.Message!, false),
            AppendStatus.Duplicate => (result.Message!, true),
            _ => throw ParleyException.NotFound(),
        };
    }

    /// <summary>Announces committed messages on the bus, in commit order. Wired as the writer's commit callback.</summary>
    public static Action<IReadOnlyList<AppendResult>> Announcer(Func<Hub> hub) => results =>
    {
        var h = hub();
        foreach (var r in results)
        {
            // A retry's answer (Duplicate) is announced again: if the first attempt committed but its answer was lost
            // (the store failed after the commit), nobody heard of the message; receivers drop seqs they already have.
            if (r.Status is (AppendStatus.Stored or AppendStatus.Duplicate) && r.Message is { } m)
            {
                h.Publish(BusTopic.ForConversation(m.Conv), new BusEvent(BusEventKind.Message, m.Conv, m.Seq, m.From, h.NodeId, ServerFrames.Message(m)));
            }
        }
    };

    /// <summary>A window of history; members only.</summary>
    public async Task<MessagePage> HistoryAsync(string userId, string conv, long? after, long? before, int? limit)
    {
        if (!ProtocolRules.IsValidId(conv))
        {
            throw ParleyException.NotFound();
        }

        if (after is < 0 or > ProtocolRules.MaxSeq || before is < 0 or > ProtocolRules.MaxSeq)
        {
            throw ParleyException.Invalid("after and before must be integers from 0 to 2^53-1");
        }

        var n = limit ?? ProtocolRules.DefaultHistoryLimit;
        if (n is < 1 or > ProtocolRules.MaxHistoryLimit)
        {
            throw ParleyException.Invalid("limit must be 1-200");
        }

        await RequireMemberAsync(conv, userId);
        return await Guard(() => _store.ReadMessagesAsync(conv, new HistoryQuery(after, before, n), CancellationToken.None));
    }

    /// <summary>Raises a watermark and tells the members when it rose.</summary>
    public async Task MarkAsync(string userId, string conv, WatermarkKind kind, long seq)
    {
        if (!ProtocolRules.IsValidId(conv))
        {
            throw ParleyException.NotFound();
        }

        if (!ProtocolRules.IsValidSeq(seq))
        {
            throw ParleyException.Invalid("seq must be an integer from 0 to 2^53-1");
        }

        var result = await Guard(() => _watermarks.SubmitAsync(new WatermarkUpdate(conv, userId, kind, seq)));
        switch (result.Status)
        {
            case WatermarkStatus.NotMember:
                throw ParleyException.NotFound();
            case WatermarkStatus.AboveHead:
                throw ParleyException.Invalid("seq is above the conversation's last seq");
        }

        var topic = BusTopic.ForConversation(conv);
        if (result.DeliveredRaised)
        {
            _hub.Publish(topic, new BusEvent(BusEventKind.Receipt, conv, 0, userId, NodeId, ServerFrames.Receipt(conv, userId, WatermarkKind.Delivered, result.DeliveredSeq)));
        }

        if (result.ReadRaised)
        {
            _hub.Publish(topic, new BusEvent(BusEventKind.Receipt, conv, 0, userId, NodeId, ServerFrames.Receipt(conv, userId, WatermarkKind.Read, result.ReadSeq)));
        }
    }

    /// <summary>Tells the other members that <paramref name="typist"/> is typing. Nothing is stored.</summary>
    public async Task TypingAsync(Session session, string conv)
    {
        if (!session.Conversations.Contains(conv))
        {
            // The session's set can lag a join made on another node; the store decides.
            await RequireMemberAsync(conv, session.UserId);
        }

        if (!session.TakeTyping(conv, Environment.TickCount64, _hub.TypingIntervalMs))
        {
            return; // one was passed on within the interval: the members already show this typist
        }

        _hub.Publish(BusTopic.ForConversation(conv), new BusEvent(BusEventKind.Typing, conv, 0, session.UserId, NodeId, ServerFrames.Typing(conv, session.UserId, session.Username)));
    }

    // ---- conversations ----

    /// <summary>Creates a room owned by the caller.</summary>
    public async Task<ConversationDto> CreateRoomAsync(UserRef caller, string? name, bool isPrivate)
    {
        var normalized = ProtocolRules.NormalizeRoomName(name) ?? throw ParleyException.Invalid("room name must be 1-64 characters without control characters");
        await RequireRoomForAnotherConversationAsync(caller.UserId, "you are");
        var info = await Guard(() => _store.CreateRoomAsync(Ids.New("r", 16), caller.UserId, normalized, isPrivate, Now(), CancellationToken.None));
        var view = new ConversationView(info, 0, 0, null);
        var dto = view.ToDto(peerOnline: false);
        AnnounceConversation(caller.UserId, dto);
        return dto;
    }

    /// <summary>Public rooms for the directory.</summary>
    public async Task<IReadOnlyList<RoomSummaryDto>> PublicRoomsAsync()
    {
        var rooms = await Guard(() => _store.ListPublicRoomsAsync(500, CancellationToken.None));
        return rooms.Select(r => new RoomSummaryDto(r.Id, r.Name, r.MemberCount)).ToList();
    }

    /// <summary>Joins a public room. A private room, a DM or an unknown id answers not_found.</summary>
    public async Task<ConversationDto> JoinAsync(UserRef caller, string conv)
    {
        var info = await GetConversationOrNotFoundAsync(conv);
        if (info.Kind != ConversationKind.Room || info.IsPrivate)
        {
            throw ParleyException.NotFound();
        }

        return await AddMemberAndAnnounceAsync(caller, conv, caller);
    }

    /// <summary>The owner adds a user to a room: 404 for non-members, 403 for members who are not the owner.</summary>
    public async Task<ConversationDto> AddMemberAsync(UserRef caller, string conv, string? username)
    {
        var info = await GetConversationOrNotFoundAsync(conv);
        await RequireMemberAsync(conv, caller.UserId);
        if (info.Kind != ConversationKind.Room)
        {
            throw ParleyException.Forbidden("members cannot be added to a direct conversation");
        }

        if (info.OwnerId != caller.UserId)
        {
            throw ParleyException.Forbidden("only the room's owner adds members");
        }

        var name = ProtocolRules.NormalizeUsername(username) ?? throw ParleyException.Invalid("username must be 3-32 characters of [A-Za-z0-9_.-]");
        var user = await Guard(() => _store.FindUserByNameAsync(name, CancellationToken.None)) ?? throw ParleyException.NotFound("no such user");
        await AddMemberAndAnnounceAsync(new UserRef(user.Id, user.Username), conv, caller);
        return await ViewAsync(conv, caller.UserId);
    }

    /// <summary>
    /// Refuses with <c>forbidden</c> when <paramref name="userId"/> is already in <see cref="ParleyOptions.MaxConversationsPerUser"/>
    /// conversations. Checked before the change, so two changes at once may pass it together: it bounds what a client's
    /// hello must carry, it is not an exact quota.
    /// </summary>
    private async Task RequireRoomForAnotherConversationAsync(string userId, string who, string? joining = null)
    {
        var cap = _hub.MaxConversationsPerUser;
        if (cap <= 0)
        {
            return;
        }

        if (await Guard(() => _store.CountConversationsAsync(userId, CancellationToken.None)) >= cap
            && (joining is null || await Guard(() => _store.GetMembershipAsync(joining, userId, CancellationToken.None)) is null))
        {
            throw ParleyException.Forbidden($"{who} in {cap} conversations, the most allowed; leave one first");
        }
    }

    private async Task<ConversationDto> AddMemberAndAnnounceAsync(UserRef member, string conv, UserRef caller)
    {
        await RequireRoomForAnotherConversationAsync(member.UserId, member.UserId == caller.UserId ? "you are" : member.Username + " is", conv);
        var status = await Guard(() => _store.AddMemberAsync(conv, member.UserId, Now(), CancellationToken.None));
        if (status == MemberAddStatus.NoConversation)
        {
            throw ParleyException.NotFound();
        }

        var dto = await ViewAsync(conv, member.UserId);
        if (status == MemberAddStatus.Added)
        {
            // The members hear of the join on the conversation's topic; the new member's sessions, not subscribed yet,
            // get the conversation and then the same notice on the users' topic (in that order: one publisher's events
            // on one topic keep their order).
            var joined = ServerFrames.Member(conv, member.UserId, member.Username, joined: true);
            _hub.Publish(BusTopic.ForConversation(conv), new BusEvent(BusEventKind.MemberJoined, conv, 0, member.UserId, NodeId, joined));
            AnnounceConversation(member.UserId, dto);
            _hub.Publish(BusTopic.Users, new BusEvent(BusEventKind.MemberJoined, conv, 0, member.UserId, NodeId, joined));
        }

        return member.UserId == caller.UserId ? dto : await ViewAsync(conv, caller.UserId);
    }

    /// <summary>Leaves a room; afterwards nothing of it reaches the caller.</summary>
    public async Task LeaveAsync(UserRef caller, string conv)
    {
        var info = await GetConversationOrNotFoundAsync(conv);
        if (info.Kind != ConversationKind.Room)
        {
            throw ParleyException.NotFound();
        }

        if (!await Guard(() => _store.RemoveMemberAsync(conv, caller.UserId, CancellationToken.None)))
        {
            throw ParleyException.NotFound();
        }

        // At once here, so nothing of the room reaches the caller's sessions on this node after the answer even when the
        // bus is slow or down; the other nodes hear of it from the bus (or, if it is lost, from their reconciliation).
        var left = ServerFrames.Member(conv, caller.UserId, caller.Username, joined: false);
        _hub.ApplyLeave(conv, caller.UserId, left);
        _hub.Publish(BusTopic.ForConversation(conv), new BusEvent(BusEventKind.MemberLeft, conv, 0, caller.UserId, NodeId, left));
    }

    /// <summary>The caller's DM with <paramref name="username"/>, created on first call.</summary>
    public async Task<ConversationDto> OpenDmAsync(UserRef caller, string? username)
    {
        var name = ProtocolRules.NormalizeUsername(username) ?? throw ParleyException.Invalid("username must be 3-32 characters of [A-Za-z0-9_.-]");
        var peer = await Guard(() => _store.FindUserByNameAsync(name, CancellationToken.None)) ?? throw ParleyException.NotFound("no such user");
        if (peer.Id == caller.UserId)
        {
            throw ParleyException.Invalid("a direct conversation needs another user");
        }

        var (info, created) = await Guard(() => _store.GetOrCreateDmAsync(Ids.New("d", 16), caller.UserId, peer.Id, Now(), CancellationToken.None));
        var mine = await ViewAsync(info.Id, caller.UserId);
        if (created)
        {
            AnnounceConversation(caller.UserId, mine);
            AnnounceConversation(peer.Id, await ViewAsync(info.Id, peer.Id));
        }

        return mine;
    }

    /// <summary>The caller's conversations with unread counts and DM peers' presence.</summary>
    public async Task<IReadOnlyList<ConversationDto>> ConversationsAsync(string userId)
    {
        var views = await Guard(() => _store.ListConversationsAsync(userId, CancellationToken.None));
        var online = await OnlineAsync(views.Where(v => v.Peer is not null).Select(v => v.Peer!.UserId).ToList());
        return views.Select(v => v.ToDto(v.Peer is not null && online.Contains(v.Peer.UserId))).ToList();
    }

    private async Task<ConversationDto> ViewAsync(string conv, string userId)
    {
        var view = await Guard(() => _store.GetConversationViewAsync(conv, userId, CancellationToken.None)) ?? throw ParleyException.NotFound();
        var online = view.Peer is null ? (IReadOnlySet<string>)new HashSet<string>() : await OnlineAsync([view.Peer.UserId]);
        return view.ToDto(view.Peer is not null && online.Contains(view.Peer.UserId));
    }

    private void AnnounceConversation(string userId, ConversationDto dto) =>
        _hub.Publish(BusTopic.Users, new BusEvent(BusEventKind.ConversationAdded, dto.Id, dto.LastSeq, userId, NodeId, ServerFrames.Conversation(dto)));

    private async Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds)
    {
        if (userIds.Count == 0)
        {
            return new HashSet<string>();
        }

        try
        {
            return await _presence.OnlineAsync(userIds, CancellationToken.None);
        }
        catch (Exception e) when (e is PresenceUnavailableException or TimeoutException)
        {
            _log.LogDebug(e, "presence unknown");
            return new HashSet<string>();
        }
    }

    private async Task<ConversationInfo> GetConversationOrNotFoundAsync(string conv)
    {
        if (!ProtocolRules.IsValidId(conv))
        {
            throw ParleyException.NotFound();
        }

        return await Guard(() => _store.GetConversationAsync(conv, CancellationToken.None)) ?? throw ParleyException.NotFound();
    }

    private async Task RequireMemberAsync(string conv, string userId)
    {
        if (await Guard(() => _store.GetMembershipAsync(conv, userId, CancellationToken.None)) is null)
        {
            throw ParleyException.NotFound();
        }
    }

    /// <summary>Maps a store outage to <c>unavailable</c>.</summary>
    public static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (StoreUnavailableException e)
        {
            throw ParleyException.Unavailable(e.Message);
        }
    }
}
