using System.Data.Common;

namespace Parley.Store.Relational;

/// <summary>
/// The column lists both SQL stores select and the readers that map those columns to the model, so that every SELECT
/// and its reader agree, in either database. Both schemas name and order these columns the same way.
/// </summary>
internal static class RelationalRows
{
    public const string MessageColumns = "conv_id, seq, id, sender_id, sender_name, body, ts, client_msg_id, node";

    public const string ConversationColumns = "c.id, c.kind, c.name, c.private, c.owner_id, c.last_seq, c.member_count";

    public const string UserColumns = "id, username, password_hash, created_at";

    public const string KindDm = "dm";

    /// <summary>Reads the <see cref="MessageColumns"/> starting at column <paramref name="o"/>.</summary>
    public static StoredMessage ReadMessage(DbDataReader r, int o = 0) => new(
        Conv: r.GetString(o),
        Seq: r.GetInt64(o + 1),
        Id: r.GetString(o + 2),
        From: r.GetString(o + 3),
        FromName: r.GetString(o + 4),
        Body: r.GetString(o + 5),
        Ts: r.GetInt64(o + 6),
        ClientMsgId: r.GetString(o + 7),
        Node: r.GetString(o + 8));

    /// <summary>Reads the <see cref="ConversationColumns"/> starting at column <paramref name="o"/>.</summary>
    public static ConversationInfo ReadConversation(DbDataReader r, int o = 0) => new(
        Id: r.GetString(o),
        Kind: r.GetString(o + 1) == KindDm ? ConversationKind.Dm : ConversationKind.Room,
        Name: r.GetString(o + 2),
        IsPrivate: r.GetBoolean(o + 3),
        OwnerId: r.IsDBNull(o + 4) ? null : r.GetString(o + 4),
        LastSeq: r.GetInt64(o + 5),
        MemberCount: r.GetInt32(o + 6));

    /// <summary>Reads the <see cref="UserColumns"/>.</summary>
    public static User ReadUser(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3));

    /// <summary>The unique key of a DM: both user ids in ordinal order.</summary>
    public static string DmKey(string userA, string userB) =>
        string.CompareOrdinal(userA, userB) < 0 ? $"{userA}:{userB}" : $"{userB}:{userA}";

    /// <summary>
    /// Makes the page of <paramref name="query"/> from <paramref name="rows"/>, read in the paging direction (newest
    /// first when <see cref="HistoryQuery.FromNewest"/>, oldest first otherwise) with a limit of one more than the
    /// query's: the extra row, dropped here, is how the page knows that more exist beyond it.
    /// </summary>
    public static MessagePage Page(List<StoredMessage> rows, HistoryQuery query)
    {
        var hasMore = rows.Count > query.Limit;
        if (hasMore)
        {
            rows.RemoveRange(query.Limit, rows.Count - query.Limit);
        }

        if (query.FromNewest)
        {
            rows.Reverse();
        }

        return new MessagePage(rows, hasMore);
    }
}
