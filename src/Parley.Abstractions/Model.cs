namespace Parley;

/// <summary>A registered account. <see cref="Username"/> is already folded to lower case.</summary>
public sealed record User(string Id, string Username, string PasswordHash, long CreatedAt);

/// <summary>The public part of a user that other users may see.</summary>
public sealed record UserRef(string UserId, string Username);

/// <summary>The two kinds of conversation: rooms (any number of members) and 1:1 direct messages.</summary>
public enum ConversationKind
{
    /// <summary>A named room, public or private, owned by its creator.</summary>
    Room,

    /// <summary>A direct conversation between exactly two users; one per pair.</summary>
    Dm,
}

/// <summary>A conversation as stored, independent of who looks at it.</summary>
/// <param name="Id">Opaque conversation id.</param>
/// <param name="Kind">Room or DM.</param>
/// <param name="Name">Room name; empty for a DM.</param>
/// <param name="IsPrivate">Private rooms are invisible in the directory and joinable only by invitation. DMs are private.</param>
/// <param name="OwnerId">The room's creator; null for a DM.</param>
/// <param name="LastSeq">The seq of the newest stored message (0 when empty).</param>
/// <param name="MemberCount">Current number of members.</param>
public sealed record ConversationInfo(
    string Id,
    ConversationKind Kind,
    string Name,
    bool IsPrivate,
    string? OwnerId,
    long LastSeq,
    int MemberCount);

/// <summary>A conversation as one member sees it: with that member's watermarks and, for a DM, the other user.</summary>
public sealed record ConversationView(ConversationInfo Info, long DeliveredSeq, long ReadSeq, UserRef? Peer);

/// <summary>One user's membership of one conversation with their monotonic watermarks.</summary>
public sealed record Membership(string ConvId, string UserId, long DeliveredSeq, long ReadSeq);

/// <summary>A message committed to the store. <see cref="Seq"/> is gapless per conversation, starting at 1.</summary>
public sealed record StoredMessage(
    string Conv,
    long Seq,
    string Id,
    string From,
    string FromName,
    string Body,
    long Ts,
    string ClientMsgId,
    string Node);

/// <summary>A request to append one message. Ids and bodies are already validated by the caller.</summary>
public sealed record AppendRequest(
    string Conv,
    string SenderId,
    string SenderName,
    string ClientMsgId,
    string MessageId,
    string Body,
    long Ts,
    string Node);

/// <summary>What happened to one <see cref="AppendRequest"/>.</summary>
public enum AppendStatus
{
    /// <summary>Newly stored with a fresh seq.</summary>
    Stored,

    /// <summary>The same (conv, sender, clientMsgId) was stored before; the original message is returned.</summary>
    Duplicate,

    /// <summary>The sender is not a member of the conversation (or it does not exist); nothing was stored.</summary>
    NotMember,
}

/// <summary>The outcome of one append: the stored (or original) message unless the sender was refused.</summary>
public readonly record struct AppendResult(AppendStatus Status, StoredMessage? Message)
{
    /// <summary>A refusal: nothing stored.</summary>
    public static AppendResult NotMember => new(AppendStatus.NotMember, null);
}

/// <summary>A history window. With neither bound: the newest <see cref="Limit"/> messages.</summary>
/// <param name="After">Only seq &gt; After; the window is then the oldest messages after it.</param>
/// <param name="Before">Only seq &lt; Before; the window is the newest messages before it.</param>
/// <param name="Limit">Maximum number of messages, at least 1.</param>
public readonly record struct HistoryQuery(long? After, long? Before, int Limit)
{
    /// <summary>True when the window is taken from the newest end, which is whenever <see cref="After"/> is absent.</summary>
    public bool FromNewest => After is null;
}

/// <summary>A window of messages in ascending seq order; <see cref="HasMore"/> says whether more exist beyond it
/// in the paging direction (older for a newest-first window, newer for an After window).</summary>
public sealed record MessagePage(IReadOnlyList<StoredMessage> Messages, bool HasMore);

/// <summary>The two per-member watermarks.</summary>
public enum WatermarkKind
{
    /// <summary>The highest seq delivered to one of the member's devices.</summary>
    Delivered,

    /// <summary>The highest seq the member has read; raising it raises <see cref="Delivered"/> too.</summary>
    Read,
}

/// <summary>A request to raise one member's watermark in one conversation.</summary>
public sealed record WatermarkUpdate(string ConvId, string UserId, WatermarkKind Kind, long Seq);

/// <summary>Outcome of a watermark update.</summary>
public enum WatermarkStatus
{
    /// <summary>Applied (possibly a no-op when the value was not higher).</summary>
    Ok,

    /// <summary>The user is not a member of the conversation.</summary>
    NotMember,

    /// <summary>The seq is above the conversation's last seq; nothing changed.</summary>
    AboveHead,
}

/// <summary>The result of a watermark update: the watermarks after it, and which of them rose.</summary>
public readonly record struct WatermarkResult(
    WatermarkStatus Status,
    long DeliveredSeq,
    long ReadSeq,
    bool DeliveredRaised,
    bool ReadRaised);

/// <summary>Outcome of adding a member.</summary>
public enum MemberAddStatus
{
    /// <summary>The user became a member.</summary>
    Added,

    /// <summary>The user was already a member; nothing changed.</summary>
    AlreadyMember,

    /// <summary>No such conversation.</summary>
    NoConversation,
}
