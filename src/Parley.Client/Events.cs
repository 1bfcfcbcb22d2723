namespace Parley.Client;

/// <summary>A delivered or read watermark of a member rose.</summary>
public sealed record ReceiptEvent(string Conv, string UserId, string Kind, long Seq);

/// <summary>A member is typing.</summary>
public sealed record TypingEvent(string Conv, string UserId, string Username);

/// <summary>A user went online or offline.</summary>
public sealed record PresenceEvent(string UserId, bool Online);

/// <summary>A member joined or left.</summary>
public sealed record MemberEvent(string Conv, string UserId, string Username, bool Joined);

/// <summary>The server acknowledged a send: the message is durably stored with this seq.</summary>
public sealed record SendAck(string Conv, string ClientMsgId, long Seq, long Ts);

/// <summary>
/// The server answered a send with an error. Transient ones (<c>unavailable</c>, <c>rate_limited</c>) are retried by the
/// client with the same clientMsgId; the others fail the send.
/// </summary>
public sealed record SendError(string Conv, string ClientMsgId, string Code, bool Transient);
