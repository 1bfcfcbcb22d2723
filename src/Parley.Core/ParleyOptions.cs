namespace Parley;

/// <summary>Node settings, bound from the <c>Parley</c> configuration section.</summary>
public sealed class ParleyOptions
{
    /// <summary>This node's id; defaults to host name and port.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Interval of server WebSocket pings; a peer silent for two periods is closed.</summary>
    public int HeartbeatMs { get; set; } = 25_000;

    /// <summary>Time a new socket has to send its hello.</summary>
    public int HelloTimeoutMs { get; set; } = 5_000;

    /// <summary>Sustained sends per second per user.</summary>
    public double SendRatePerSecond { get; set; } = 20;

    /// <summary>Send burst per user.</summary>
    public int SendBurst { get; set; } = 40;

    /// <summary>Rejected sends within <see cref="FloodWindowMs"/> after which a connection is closed with 4029.</summary>
    public int FloodCloseAfterRejects { get; set; } = 100;

    /// <summary>Window for counting rejected sends.</summary>
    public int FloodWindowMs { get; set; } = 5_000;

    /// <summary>
    /// After more than <see cref="FloodCloseAfterRejects"/> refused sends within <see cref="FloodWindowMs"/>, every send of
    /// that user on this node is refused for this long (0 disables), so a flood cannot keep landing its per-second share.
    /// </summary>
    public int FloodCooldownMs { get; set; } = 10_000;

    /// <summary>Frames a connection may have queued for sending before it is closed as a slow consumer (4008).</summary>
    public int OutboundQueueFrames { get; set; } = 4_096;

    /// <summary>Messages sent per conversation on hello before a gap frame stands for the older part.</summary>
    public int BacklogLimit { get; set; } = 200;

    /// <summary>
    /// Messages a hello's backlog sends over all the user's conversations together (each still at most
    /// <see cref="BacklogLimit"/>); past it the older part of each further conversation is a gap frame. Keeps a hello
    /// inside the outbound queue (<see cref="OutboundQueueFrames"/>) however slowly the client reads: a user in many busy
    /// conversations would otherwise be closed as a slow consumer (4008) at every reconnect. Keep it under half of
    /// <see cref="OutboundQueueFrames"/> (the defaults are 2,000 and 4,096): a client that reads as it goes takes a longer
    /// backlog through a shorter queue, but one that reads nothing until its hello is answered does not.
    /// </summary>
    public int HelloBacklogFrames { get; set; } = 2_000;

    /// <summary>
    /// A connection's <c>typing</c> for one conversation is passed on at most once per this many milliseconds; the rest
    /// are dropped without an answer (clients send one every few seconds while the user types; the web client every
    /// 2.5 s, and at once after a send). A message the connection sends ends the interval. Without it one member could
    /// flood every other member's connection. 0 passes on every one.
    /// </summary>
    public int TypingIntervalMs { get; set; } = 1_000;

    /// <summary>
    /// Most rooms a user may be in: creating, joining or being added to one more is refused (<c>forbidden</c>). Every
    /// conversation is a cursor in the client's <c>hello</c>, which must fit in one 64 KiB frame (about 2,000 cursors);
    /// without a cap, anyone could make a victim's client unable to connect by adding them to thousands of rooms. DMs
    /// count towards it but are never refused (the cap is checked when joining rooms). 0 for no cap.
    /// </summary>
    public int MaxConversationsPerUser { get; set; } = 1_000;

    /// <summary>Rooms up to this many members share presence among their members.</summary>
    public int PresenceRoomMaxMembers { get; set; } = 200;

    /// <summary>
    /// How long presence news waits in a conversation's delivery before it is written, so news that comes close together
    /// (a room's members reconnecting) reaches each connection in one write instead of one each. 0 writes at once.
    /// Presence only: messages and other events are never held.
    /// </summary>
    public int PresenceBatchMs { get; set; } = 200;

    /// <summary>
    /// How long presence news is held instead of <see cref="PresenceBatchMs"/> while a conversation is in a burst of it:
    /// after a batch that carried at least <see cref="PresenceBurstNews"/> pieces (a room coming back after an outage),
    /// the next batch is held this long, so each connection gets a few writes for the whole burst instead of one every
    /// <see cref="PresenceBatchMs"/>. A batch smaller than that ends the burst. At most 2,000 ms.
    /// </summary>
    public int PresenceBurstBatchMs { get; set; } = 1_000;

    /// <summary>News in one presence batch from which the next is held <see cref="PresenceBurstBatchMs"/>.</summary>
    public int PresenceBurstNews { get; set; } = 10;

    /// <summary>
    /// Presence news a node publishes to a conversation within this long of its last publish there is gathered and
    /// published as one bus event when the time is up; news in a quiet conversation is published at once. 0 publishes
    /// every piece on its own.
    /// </summary>
    public int PresencePublishWindowMs { get; set; } = 250;

    /// <summary>
    /// How long a user whose last connection dropped still counts as online: a connection of theirs that comes back
    /// within this time (a network blip, a page reload, a node's restart, a reconnect storm) means nobody is told
    /// "offline" and then "online" again. When it ends without a new connection the user goes offline as usual. A client
    /// that closes with 1000 (normal closure: signed out) gets no grace, and a node that stops ends its held
    /// connections' grace at once. 0: no grace. At most 60,000 ms.
    /// </summary>
    public int PresenceOfflineGraceMs { get; set; } = 15_000;

    /// <summary>Most messages committed in one group-commit transaction.</summary>
    public int MaxCommitBatch { get; set; } = 256;

    /// <summary>A send still queued for the store after this long is answered unavailable without being stored.</summary>
    public int StoreQueueTimeoutMs { get; set; } = 4_000;

    /// <summary>How long a starting node waits for an unavailable store before it gives up (and exits).</summary>
    public int StoreStartupWaitMs { get; set; } = 60_000;

    /// <summary>
    /// Store reads this node's delivery runs at once: catch-ups, and a quarter of it each for the batched conversation
    /// and head reads of hellos and for presence lookups. More wait their turn, so a reconnect storm queues instead of
    /// exhausting the store's connection pool.
    /// </summary>
    public int StoreReadConcurrency { get; set; } = 8;

    /// <summary>
    /// How long a delivered message event that arrives ahead of a missing seq waits for it before the gap is read from the
    /// store (events from different nodes reach a node's queue in any order). 0 reads at once.
    /// </summary>
    public int ReorderWaitMs { get; set; } = 30;

    /// <summary>How often the node re-checks the heads of its conversations against the store (healing lost bus events).</summary>
    public int HeadCheckIntervalMs { get; set; } = 5_000;

    /// <summary>
    /// Local users whose conversation sets are compared with the store after each head check, in turn (one batched read):
    /// what heals a join or leave whose bus event was lost while this node's bus stayed up. At least 1.
    /// </summary>
    public int ReconcileUsersPerCheck { get; set; } = 500;

    /// <summary>
    /// How long a bus topic stays bound after the last local session that needed it left. Clients that drop and come
    /// back (a network blip, a reconnect storm) then find their topics bound and cost the broker nothing; 0 unbinds at once.
    /// </summary>
    public int TopicLingerMs { get; set; } = 15_000;

    /// <summary>Lifetime of issued tokens.</summary>
    public int TokenLifetimeSeconds { get; set; } = 24 * 60 * 60;
}
