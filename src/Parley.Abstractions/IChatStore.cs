namespace Parley;

/// <summary>
/// The source of truth: users, conversations, members, messages and watermarks.
/// Every implementation passes the shared store contract suite (test/Parley.Store.Tests).
/// </summary>
/// <remarks>
/// Guarantees every implementation keeps:
/// <list type="bullet">
/// <item>Seq is gapless per conversation: the n-th stored message of a conversation has seq n, and a message
/// with seq n is visible to readers only once every seq below n is visible (the seq is taken from a counter row
/// bumped inside the inserting transaction, so commit order equals seq order).</item>
/// <item>(conv, sender, clientMsgId) is unique; appending it again returns the original message.</item>
/// <item>A task that completes successfully means the change is durably committed. A store that cannot reach
/// its database throws <see cref="StoreUnavailableException"/> and has committed nothing of that call.</item>
/// <item>Watermarks never go down.</item>
/// </list>
/// Inputs are validated by the caller (ids, names, bodies); the store trusts their shape but checks
/// membership itself where the method says so.
/// </remarks>
public interface IChatStore : IAsyncDisposable
{
    /// <summary>Creates or migrates the schema. Idempotent; safe when several nodes start at once.</summary>
    Task InitializeAsync(CancellationToken ct);

    /// <summary>True when the database answers a trivial query within the token's deadline.</summary>
    Task<bool> PingAsync(CancellationToken ct);

    /// <summary>How many <see cref="AppendBatchAsync"/> calls may usefully run at once (1 for a single-writer engine).</summary>
    int MaxConcurrentAppends { get; }

    // ---- users ----

    /// <summary>Creates a user; null when the (already lower-cased) username is taken.</summary>
    Task<User?> CreateUserAsync(User user, CancellationToken ct);

    /// <summary>Finds a user by lower-cased username.</summary>
    Task<User?> FindUserByNameAsync(string username, CancellationToken ct);

    /// <summary>Finds a user by id.</summary>
    Task<User?> GetUserAsync(string userId, CancellationToken ct);

    // ---- conversations and members ----

    /// <summary>Creates a room owned by <paramref name="ownerId"/>, who becomes its first member.</summary>
    Task<ConversationInfo> CreateRoomAsync(string convId, string ownerId, string name, bool isPrivate, long ts, CancellationToken ct);

    /// <summary>
    /// Returns the one DM of the unordered pair (a, b), creating it with id <paramref name="newConvId"/> and both users
    /// as members when it does not exist yet. Concurrent calls for one pair agree on a single conversation.
    /// </summary>
    Task<(ConversationInfo Conversation, bool Created)> GetOrCreateDmAsync(string newConvId, string userA, string userB, long ts, CancellationToken ct);

    /// <summary>The conversation, or null.</summary>
    Task<ConversationInfo?> GetConversationAsync(string convId, CancellationToken ct);

    /// <summary>Public rooms, most members first, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ConversationInfo>> ListPublicRoomsAsync(int limit, CancellationToken ct);

    /// <summary>
    /// Adds a member. A new member's watermarks start at the conversation's current last seq, so joining a busy room
    /// does not replay its whole past as unread; older messages stay readable through history.
    /// </summary>
    Task<MemberAddStatus> AddMemberAsync(string convId, string userId, long ts, CancellationToken ct);

    /// <summary>Removes a member; false when they were not one.</summary>
    Task<bool> RemoveMemberAsync(string convId, string userId, CancellationToken ct);

    /// <summary>The membership with its watermarks, or null when the user is not a member.</summary>
    Task<Membership?> GetMembershipAsync(string convId, string userId, CancellationToken ct);

    /// <summary>The ids of every current member.</summary>
    Task<IReadOnlyList<string>> ListMemberIdsAsync(string convId, CancellationToken ct);

    /// <summary>Every conversation the user is a member of, as they see it.</summary>
    Task<IReadOnlyList<ConversationView>> ListConversationsAsync(string userId, CancellationToken ct);

    /// <summary>How many conversations (rooms and DMs) the user is a member of; 0 for an unknown user.</summary>
    Task<int> CountConversationsAsync(string userId, CancellationToken ct);

    /// <summary>
    /// What <see cref="ListConversationsAsync"/> returns, for many users in one read (hellos arriving together cost one
    /// query): every given user has an entry, in the same order, empty when they are a member of nothing or unknown.
    /// </summary>
    Task<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>> ListConversationsOfUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct);

    /// <summary>One conversation as a member sees it, or null when the user is not a member.</summary>
    Task<ConversationView?> GetConversationViewAsync(string convId, string userId, CancellationToken ct);

    /// <summary>
    /// The conversations whose members are told of the user's presence: every DM of theirs and every room of theirs
    /// with at most <paramref name="maxRoomMembers"/> members.
    /// </summary>
    Task<IReadOnlyList<string>> ListPresenceConversationsAsync(string userId, int maxRoomMembers, CancellationToken ct);

    // ---- messages ----

    /// <summary>
    /// Appends a batch in ONE transaction (group commit: one durable flush for the whole batch) and returns one result
    /// per request, in request order. Per request: the sender must be a member (else <see cref="AppendStatus.NotMember"/>);
    /// a known (conv, sender, clientMsgId), also one repeated inside the batch, gives <see cref="AppendStatus.Duplicate"/>
    /// with the original message. Seqs within one conversation are assigned in request order.
    /// Either the whole batch commits or the call throws and nothing of it is stored.
    /// </summary>
    Task<IReadOnlyList<AppendResult>> AppendBatchAsync(IReadOnlyList<AppendRequest> batch, CancellationToken ct);

    /// <summary>A window of a conversation's history in ascending seq order. Does not check membership.</summary>
    Task<MessagePage> ReadMessagesAsync(string convId, HistoryQuery query, CancellationToken ct);

    /// <summary>The last seq of each given conversation that exists.</summary>
    Task<IReadOnlyDictionary<string, long>> GetLastSeqsAsync(IReadOnlyCollection<string> convIds, CancellationToken ct);

    // ---- watermarks ----

    /// <summary>
    /// Applies watermark raises in ONE transaction (one durable flush for the batch) and returns one result per update,
    /// in request order. Each update raises a watermark to its seq when higher than the current one (lower values
    /// change nothing); raising Read raises Delivered with it; a seq above the conversation's last seq (AboveHead) and
    /// non-members (NotMember) change nothing. Updates of one member within a batch apply in request order.
    /// </summary>
    Task<IReadOnlyList<WatermarkResult>> RaiseWatermarksAsync(IReadOnlyList<WatermarkUpdate> updates, CancellationToken ct);

    /// <summary>One watermark raise; see <see cref="RaiseWatermarksAsync"/>.</summary>
    async Task<WatermarkResult> RaiseWatermarkAsync(string convId, string userId, WatermarkKind kind, long seq, CancellationToken ct) =>
        (await RaiseWatermarksAsync([new WatermarkUpdate(convId, userId, kind, seq)], ct))[0];
}

/// <summary>The store's database could not be reached or failed; nothing of the call was committed. Safe to retry.</summary>
public sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException() : base("the store is unavailable") { }

    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message) : base(message) { }
}
