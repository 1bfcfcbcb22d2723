using Microsoft.Data.Sqlite;

namespace Parley.Store.Sqlite;

/// <summary>Column lists and row mapping shared by the queries, so each SELECT and its reader agree.</summary>
internal static class SqliteRows
{
    public const string MessageColumns = "conv_id, seq, id, sender_id, sender_name, body, ts, client_msg_id, node";

    public const string ConversationColumns = "c.id, c.kind, c.name, c.private, c.owner_id, c.last_seq, c.member_count";

    public const string KindRoom = "room";

    public const string KindDm = "dm";

    /// <summary>Creates a command on <paramref name="connection"/> with named parameters (<c>$name</c>).</summary>
    public static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>Creates a command inside <paramref name="tx"/> with named parameters (<c>$name</c>).</summary>
    public static SqliteCommand Command(SqliteTransaction tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(tx.Connection!, sql, parameters);
        command.Transaction = tx;
        return command;
    }

    public static StoredMessage ReadMessage(SqliteDataReader r, int o = 0) => new(
        Conv: r.GetString(o),
        Seq: r.GetInt64(o + 1),
        Id: r.GetString(o + 2),
        From: r.GetString(o + 3),
        FromName: r.GetString(o + 4),
        Body: r.GetString(o + 5),
        Ts: r.GetInt64(o + 6),
        ClientMsgId: r.GetString(o + 7),
        Node: r.GetString(o + 8));

    public static ConversationInfo ReadConversation(SqliteDataReader r, int o = 0) => new(
        Id: r.GetString(o),
        Kind: r.GetString(o + 1) == KindDm ? ConversationKind.Dm : ConversationKind.Room,
        Name: r.GetString(o + 2),
        IsPrivate: r.GetInt64(o + 3) != 0,
        OwnerId: r.IsDBNull(o + 4) ? null : r.GetString(o + 4),
        LastSeq: r.GetInt64(o + 5),
        MemberCount: r.GetInt32(o + 6));

    public static User ReadUser(SqliteDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3));

    /// <summary>The unique key of a DM: both user ids in ordinal order.</summary>
    public static string DmKey(string userA, string userB) =>
        string.CompareOrdinal(userA, userB) < 0 ? $"{userA}:{userB}" : $"{userB}:{userA}";

    /// <summary>True for failures of the database file or its environment (I/O, full disk, locks), as opposed to bugs.</summary>
    public static bool IsUnavailable(SqliteException e) => (e.SqliteErrorCode & 0xFF) switch
    {
        5 or 6 => true,   // SQLITE_BUSY, SQLITE_LOCKED
        7 => true,        // SQLITE_NOMEM
        8 => true,        // SQLITE_READONLY
        10 => true,       // SQLITE_IOERR
        11 or 26 => true, // SQLITE_CORRUPT, SQLITE_NOTADB
        13 => true,       // SQLITE_FULL
        14 => true,       // SQLITE_CANTOPEN
        15 => true,       // SQLITE_PROTOCOL
        _ => false,
    };
}
