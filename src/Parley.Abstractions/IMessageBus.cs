namespace Parley;

/// <summary>What a bus topic is about: one conversation, or users.</summary>
public enum TopicKind
{
    /// <summary>Events of one conversation (routing key <c>conv.&lt;id&gt;</c>).</summary>
    Conversation,

    /// <summary>
    /// Events addressed to a user (<see cref="BusEvent.Subject"/>) wherever they are connected: one topic for all users
    /// (routing key <c>users</c>), to which every node subscribes once; a node without the user's sessions ignores the
    /// event. Such events are rare (a conversation gained), so sending each to every node costs less than a binding per
    /// connected user, which every connect and disconnect would add to and take from the broker.
    /// </summary>
    Users,
}

/// <summary>A bus topic. A node subscribes to a topic while it has at least one local connection that needs it.</summary>
public readonly record struct BusTopic(TopicKind Kind, string Id)
{
    /// <summary>The conversation topic.</summary>
    public static BusTopic ForConversation(string convId) => new(TopicKind.Conversation, convId);

    /// <summary>The topic of events addressed to users, the same for every user (see <see cref="TopicKind.Users"/>).</summary>
    public static BusTopic Users { get; } = new(TopicKind.Users, "all");

    /// <summary>The routing key: <c>conv.&lt;id&gt;</c>, or <c>users</c>.</summary>
    public string RoutingKey => Kind == TopicKind.Conversation ? "conv." + Id : "users";

    /// <summary>Parses a routing key made by <see cref="RoutingKey"/>.</summary>
    public static bool TryParse(string routingKey, out BusTopic topic)
    {
        if (routingKey.StartsWith("conv.", StringComparison.Ordinal))
        {
            topic = ForConversation(routingKey[5..]);
            return topic.Id.Length > 0;
        }

        if (routingKey == "users")
        {
            topic = Users;
            return true;
        }

        topic = default;
        return false;
    }

    /// <inheritdoc />
    public override string ToString() => RoutingKey;
}

/// <summary>The kinds of event nodes exchange. The numeric values are part of the wire format between nodes.</summary>
public enum BusEventKind
{
    /// <summary>A stored message; <see cref="BusEvent.Seq"/> is its seq. Conversation topic.</summary>
    Message = 1,

    /// <summary>A delivered/read watermark rose. Conversation topic.</summary>
    Receipt = 2,

    /// <summary>A member is typing; not delivered to <see cref="BusEvent.Subject"/>. Conversation topic.</summary>
    Typing = 3,

    /// <summary><see cref="BusEvent.Subject"/> joined the conversation. Conversation topic.</summary>
    MemberJoined = 4,

    /// <summary><see cref="BusEvent.Subject"/> left; delivered to them too, then they stop receiving. Conversation topic.</summary>
    MemberLeft = 5,

    /// <summary><see cref="BusEvent.Subject"/> gained the conversation <see cref="BusEvent.Conv"/>. <see cref="BusTopic.Users"/>.</summary>
    ConversationAdded = 6,

    /// <summary>Presence of <see cref="BusEvent.Subject"/> changed; delivered to the other members. Conversation topic.</summary>
    Presence = 7,

    /// <summary>
    /// Presence of several users changed, in order: the frame is one line per change, <c>1</c> (online) or <c>0</c>
    /// (offline) then the user id; <see cref="BusEvent.Subject"/> is empty. Each is delivered to the other members as a
    /// <see cref="Presence"/> event would be. Conversation topic.
    /// </summary>
    PresenceBatch = 8,
}

/// <summary>
/// One event between nodes. <see cref="Frame"/> is the exact WebSocket frame (UTF-8 JSON) that receiving nodes write to
/// their connections, so an event is serialized once, by the node that produced it.
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="Conv">The conversation concerned.</param>
/// <param name="Seq">For <see cref="BusEventKind.Message"/>, the message's seq; otherwise 0.</param>
/// <param name="Subject">The user the event is about (typist, member, presence owner, receiver of a conversation), or empty.</param>
/// <param name="Origin">The id of the node that published the event.</param>
/// <param name="Frame">The frame to write to client connections.</param>
public sealed record BusEvent(
    BusEventKind Kind,
    string Conv,
    long Seq,
    string Subject,
    string Origin,
    ReadOnlyMemory<byte> Frame);

/// <summary>Receives what the bus delivers to this node.</summary>
public interface IBusHandler
{
    /// <summary>
    /// An event arrived on a topic this node subscribes to (its own publications included). Called from the bus's
    /// delivery loop: must not block; events of one topic from one publisher arrive in publication order.
    /// </summary>
    void OnEvent(BusTopic topic, BusEvent evt);

    /// <summary>
    /// The bus was (re)connected after a period in which events may have been lost. The node re-checks the heads of its
    /// conversations against the store.
    /// </summary>
    void OnResumed();
}

/// <summary>
/// Carries events between nodes. A hint, never the record: delivery is at most once, and anything lost is healed
/// from the store (seq gaps are filled by readers; nodes re-check heads after <see cref="IBusHandler.OnResumed"/>).
/// </summary>
/// <remarks>
/// Guarantees: an event published to a topic reaches every node subscribed to that topic at the time (this node
/// included, without a round trip through a broker) unless the bus is down; per (publisher, topic) order is kept;
/// <see cref="Publish"/> never blocks on the network and never throws because a broker is down.
/// Every implementation passes the shared bus contract suite.
/// </remarks>
public interface IMessageBus : IAsyncDisposable
{
    /// <summary>Connects and starts delivering to <paramref name="handler"/>. Does not fail when a broker is down: it keeps retrying.</summary>
    Task StartAsync(IBusHandler handler, CancellationToken ct);

    /// <summary>Publishes an event to a topic, at most once. Returns false when it was dropped (bus down or overloaded).</summary>
    bool Publish(BusTopic topic, BusEvent evt);

    /// <summary>
    /// Starts receiving a topic's events on this node. Idempotent; re-established after reconnects. Completes when the
    /// subscription is in effect, or as soon as the bus is found down (it is then applied on reconnection, followed by
    /// <see cref="IBusHandler.OnResumed"/>). Never throws because a broker is down.
    /// </summary>
    Task SubscribeAsync(BusTopic topic);

    /// <summary>Stops receiving a topic's events on this node. Idempotent; never throws because a broker is down.</summary>
    Task UnsubscribeAsync(BusTopic topic);

    /// <summary>True while the bus is connected (this node's view).</summary>
    bool IsConnected { get; }

    /// <summary>True when the bus answers within the token's deadline; used by readiness checks.</summary>
    Task<bool> PingAsync(CancellationToken ct);
}
