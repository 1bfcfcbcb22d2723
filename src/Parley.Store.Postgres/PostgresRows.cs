using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>Column lists, parameters and row mapping shared by the queries, so each SELECT and its reader agree.</summary>
internal static class PostgresRows
{
    public const string MessageColumns = "conv_id, seq, id, sender_id, sender_name, body, ts, client_msg_id, node";

    public const string QualifiedMessageColumns = "m.conv_id, m.seq, m.id, m.sender_id, m.sender_name, m.body, m.ts, m.client_msg_id, m.node";

    public const string ConversationColumns = "c.id, c.kind, c.name, c.private, c.owner_id, c.last_seq, c.member_count";

    public const string KindDm = "dm";

    /// <summary>A strongly typed parameter (arrays map to PostgreSQL arrays, e.g. <c>string[]</c> to <c>text[]</c>).</summary>
    public static NpgsqlParameter<T> P<T>(string name, T value) => new(name, value);

    /// <summary>A strongly typed parameter for <c>$1</c>-style placeholders, bound in the order added.</summary>
    public static NpgsqlParameter<T> Positional<T>(T value) => new() { TypedValue = value };

    /// <summary>A batch command with parameters.</summary>
    public static NpgsqlBatchCommand Statement(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var p in parameters)
        {
            command.Parameters.Add(p);
        }

        return command;
    }

    public static StoredMessage ReadMessage(NpgsqlDataReader r, int o = 0) => new(
        Conv: r.GetString(o),
        Seq: r.GetInt64(o + 1),
        Id: r.GetString(o + 2),
        From: r.GetString(o + 3),
        FromName: r.GetString(o + 4),
        Body: r.GetString(o + 5),
        Ts: r.GetInt64(o + 6),
        ClientMsgId: r.GetString(o + 7),
        Node: r.GetString(o + 8));

    public static ConversationInfo ReadConversation(NpgsqlDataReader r, int o = 0) => new(
        Id: r.GetString(o),
        Kind: r.GetString(o + 1) == KindDm ? ConversationKind.Dm : ConversationKind.Room,
        Name: r.GetString(o + 2),
        IsPrivate: r.GetBoolean(o + 3),
        OwnerId: r.IsDBNull(o + 4) ? null : r.GetString(o + 4),
        LastSeq: r.GetInt64(o + 5),
        MemberCount: r.GetInt32(o + 6));

    public static User ReadUser(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3));

    /// <summary>The unique key of a DM: both user ids in ordinal order.</summary>
    public static string DmKey(string userA, string userB) =>
        string.CompareOrdinal(userA, userB) < 0 ? $"{userA}:{userB}" : $"{userB}:{userA}";
}
