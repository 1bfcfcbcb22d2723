namespace Parley.Protocol;

/// <summary>Maps store records to protocol DTOs.</summary>
public static class Mapping
{
    /// <summary>A stored message as the protocol's Message.</summary>
    public static MessageDto ToDto(this StoredMessage m) =>
        new(m.Conv, m.Seq, m.Id, m.From, m.FromName, m.Body, m.Ts, m.ClientMsgId, m.Node);

    /// <summary>A member's view of a conversation as the protocol's Conversation; <paramref name="peerOnline"/> matters for DMs only.</summary>
    public static ConversationDto ToDto(this ConversationView v, bool peerOnline)
    {
        var info = v.Info;
        var isDm = info.Kind == ConversationKind.Dm;
        return new ConversationDto(
            info.Id,
            isDm ? "dm" : "room",
            isDm && v.Peer is not null ? v.Peer.Username : info.Name,
            info.IsPrivate,
            info.LastSeq,
            v.ReadSeq,
            v.DeliveredSeq,
            Math.Max(0, info.LastSeq - v.ReadSeq),
            info.MemberCount,
            isDm && v.Peer is not null ? new PeerDto(v.Peer.UserId, v.Peer.Username, peerOnline) : null);
    }
}
