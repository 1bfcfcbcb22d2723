using System.Text.Json;
using System.Text.Json.Serialization;

namespace Parley.Protocol;

/// <summary>The answer to register and login.</summary>
public sealed record AuthResponse(string UserId, string Username, string Token, long ExpiresAt);

/// <summary>The body of register and login.</summary>
public sealed record Credentials(string? Username, string? Password);

/// <summary>The body of room creation.</summary>
public sealed record CreateRoomRequest(string? Name, bool? Private);

/// <summary>A body naming a user: add a member, open a DM.</summary>
public sealed record UsernameRequest(string? Username);

/// <summary>The body of a REST send.</summary>
public sealed record SendRequest(string? ClientMsgId, string? Body);

/// <summary>The other user of a DM, as the caller sees them.</summary>
public sealed record PeerDto(string UserId, string Username, bool Online);

/// <summary>A conversation as the caller sees it. <c>unread = lastSeq - readSeq</c>.</summary>
public sealed record ConversationDto(
    string Id,
    string Kind,
    string Name,
    bool Private,
    long LastSeq,
    long ReadSeq,
    long DeliveredSeq,
    long Unread,
    int MemberCount,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PeerDto? Peer);

/// <summary>A public room in the directory.</summary>
public sealed record RoomSummaryDto(string Id, string Name, int MemberCount);

/// <summary>A stored message.</summary>
public sealed record MessageDto(string Conv, long Seq, string Id, string From, string FromName, string Body, long Ts, string ClientMsgId, string Node);

/// <summary>A page of history in ascending seq.</summary>
public sealed record MessagePageDto(IReadOnlyList<MessageDto> Messages, bool HasMore);

/// <summary>One node in the stats.</summary>
public sealed record NodeDto(string Id, int Connections);

/// <summary>The answer of <c>/api/v1/stats</c>.</summary>
public sealed record StatsDto(int OnlineUsers, int Connections, string Node, IReadOnlyList<NodeDto> Nodes);

/// <summary>The error part of a REST error answer.</summary>
public sealed record ErrorDetail(string Code, string Message);

/// <summary>A REST error answer: <c>{"error":{"code","message"}}</c>.</summary>
public sealed record ErrorResponse(ErrorDetail Error);

/// <summary>
/// Source-generated JSON metadata for every REST body and answer (camelCase, web defaults). A field given twice in one
/// body is refused (400), as in WebSocket frames, rather than the last one silently winning; names still match
/// whatever their case, so <c>username</c> and <c>Username</c> in one body are the same field given twice.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, AllowDuplicateProperties = false)]
[JsonSerializable(typeof(AuthResponse))]
[JsonSerializable(typeof(Credentials))]
[JsonSerializable(typeof(CreateRoomRequest))]
[JsonSerializable(typeof(UsernameRequest))]
[JsonSerializable(typeof(SendRequest))]
[JsonSerializable(typeof(ConversationDto))]
[JsonSerializable(typeof(List<ConversationDto>))]
[JsonSerializable(typeof(List<RoomSummaryDto>))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(MessagePageDto))]
[JsonSerializable(typeof(StatsDto))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(string))]
public sealed partial class ProtocolJson : JsonSerializerContext;
