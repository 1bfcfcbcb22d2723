using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Parley.Store.Relational.RelationalRows;
using static Parley.Store.Sqlite.SqliteRows;

namespace Parley.Store.Sqlite;

/// <summary>Users, conversations and memberships.</summary>
public sealed partial class SqliteChatStore
{
    private const string ViewSql = $"""
        SELECT {ConversationColumns}, m.delivered_seq, m.read_seq, p.user_id, u.username, m.user_id
        FROM members m
        JOIN conversations c ON c.id = m.conv_id
        LEFT JOIN members p ON c.kind = 'dm' AND p.conv_id = c.id AND p.user_id <> m.user_id
        LEFT JOIN users u ON u.id = p.user_id
        WHERE
        """;

    /// <inheritdoc />
    public Task<User?> CreateUserAsync(User user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        return WriteAsync(tx =>
        {
            using var cmd = Command(
                tx,
                "INSERT INTO users (id, username, password_hash, created_at) VALUES ($id, $name, $hash, $ts) ON CONFLICT (username) DO NOTHING",
                ("$id", user.Id), ("$name", user.Username), ("$hash", user.PasswordHash), ("$ts", user.CreatedAt));
            return cmd.ExecuteNonQuery() == 1 ? user : null;
        }, ct);
    }

    /// <inheritdoc />
    public Task<User?> FindUserByNameAsync(string username, CancellationToken ct) =>
        ReadAsync(c => QueryUser(c, "username", username), ct);

    /// <inheritdoc />
    public Task<User?> GetUserAsync(string userId, CancellationToken ct) =>
        ReadAsync(c => QueryUser(c, "id", userId), ct);

    /// <inheritdoc />
    public Task<ConversationInfo> CreateRoomAsync(string convId, string ownerId, string name, bool isPrivate, long ts, CancellationToken ct) =>
        WriteAsync(tx =>
        {
            using (var conv = Command(
                tx,
                "INSERT INTO conversations (id, kind, name, private, owner_id, last_seq, member_count, dm_key, created_at) VALUES ($id, 'room', $name, $private, $owner, 0, 1, NULL, $ts)",
                ("$id", convId), ("$name", name), ("$private", isPrivate ? 1 : 0), ("$owner", ownerId), ("$ts", ts)))
            {
                conv.ExecuteNonQuery();
            }

            InsertMember(tx, convId, ownerId, 0, ts);
            return new ConversationInfo(convId, ConversationKind.Room, name, isPrivate, ownerId, 0, 1);
        }, ct);

    /// <inheritdoc />
    public Task<(ConversationInfo Conversation, bool Created)> GetOrCreateDmAsync(string newConvId, string userA, string userB, long ts, CancellationToken ct)
    {
        if (string.Equals(userA, userB, StringComparison.Ordinal))
        {
            throw new ArgumentException("a DM needs two different users", nameof(userB));
        }

        var key = DmKey(userA, userB);
        // Every write runs on the one writer connection in turn, so look-up and insert cannot interleave.
        return WriteAsync(tx =>
        {
            using (var find = Command(tx, $"SELECT {ConversationColumns} FROM conversations c WHERE c.dm_key = $key", ("$key", key)))
            using (var r = find.ExecuteReader())
            {
                if (r.Read())
                {
                    return (ReadConversation(r), false);
                }
            }

            using (var conv = Command(
                tx,
                "INSERT INTO conversations (id, kind, name, private, owner_id, last_seq, member_count, dm_key, created_at) VALUES ($id, 'dm', '', 1, NULL, 0, 2, $key, $ts)",
                ("$id", newConvId), ("$key", key), ("$ts", ts)))
            {
                conv.ExecuteNonQuery();
            }

            InsertMember(tx, newConvId, userA, 0, ts);
            InsertMember(tx, newConvId, userB, 0, ts);
            return (new ConversationInfo(newConvId, ConversationKind.Dm, "", true, null, 0, 2), true);
        }, ct);
    }

    /// <inheritdoc />
    public Task<ConversationInfo?> GetConversationAsync(string convId, CancellationToken ct) =>
        ReadAsync(c =>
        {
            using var cmd = Command(c, $"SELECT {ConversationColumns} FROM conversations c WHERE c.id = $id", ("$id", convId));
            using var r = cmd.ExecuteReader();
            return r.Read() ? ReadConversation(r) : null;
        }, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationInfo>> ListPublicRoomsAsync(int limit, CancellationToken ct) =>
        limit <= 0 ? Task.FromResult<IReadOnlyList<ConversationInfo>>([]) : ReadAsync<IReadOnlyList<ConversationInfo>>(c =>
        {
            using var cmd = Command(
                c,
                $"SELECT {ConversationColumns} FROM conversations c WHERE c.kind = 'room' AND c.private = 0 ORDER BY c.member_count DESC, c.id LIMIT $limit",
                ("$limit", limit));
            using var r = cmd.ExecuteReader();
            var rooms = new List<ConversationInfo>();
            while (r.Read())
            {
                rooms.Add(ReadConversation(r));
            }

            return rooms;
        }, ct);

    /// <inheritdoc />
    public Task<MemberAddStatus> AddMemberAsync(string convId, string userId, long ts, CancellationToken ct) =>
        WriteAsync(tx =>
        {
            long lastSeq;
            using (var head = Command(tx, "SELECT last_seq FROM conversations WHERE id = $id", ("$id", convId)))
            {
                if (head.ExecuteScalar() is not long seq)
                {
                    return MemberAddStatus.NoConversation;
                }

                lastSeq = seq;
            }

            if (!InsertMember(tx, convId, userId, lastSeq, ts))
            {
                return MemberAddStatus.AlreadyMember;
            }

            using var count = Command(tx, "UPDATE conversations SET member_count = member_count + 1 WHERE id = $id", ("$id", convId));
            count.ExecuteNonQuery();
            return MemberAddStatus.Added;
        }, ct);

    /// <inheritdoc />
    public Task<bool> RemoveMemberAsync(string convId, string userId, CancellationToken ct) =>
        WriteAsync(tx =>
        {
            using var delete = Command(tx, "DELETE FROM members WHERE conv_id = $conv AND user_id = $user", ("$conv", convId), ("$user", userId));
            if (delete.ExecuteNonQuery() == 0)
            {
                return false;
            }

            using var count = Command(tx, "UPDATE conversations SET member_count = member_count - 1 WHERE id = $id", ("$id", convId));
            count.ExecuteNonQuery();
            return true;
        }, ct);

    /// <inheritdoc />
    public Task<Membership?> GetMembershipAsync(string convId, string userId, CancellationToken ct) =>
        ReadAsync(c =>
        {
            using var cmd = Command(
                c,
                "SELECT delivered_seq, read_seq FROM members WHERE conv_id = $conv AND user_id = $user",
                ("$conv", convId), ("$user", userId));
            using var r = cmd.ExecuteReader();
            return r.Read() ? new Membership(convId, userId, r.GetInt64(0), r.GetInt64(1)) : null;
        }, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListMemberIdsAsync(string convId, CancellationToken ct) =>
        ReadAsync(c => Strings(c, "SELECT user_id FROM members WHERE conv_id = $conv ORDER BY joined_at, user_id", ("$conv", convId)), ct);

    /// <inheritdoc />
    public Task<int> CountConversationsAsync(string userId, CancellationToken ct) =>
        ReadAsync(c =>
        {
            using var cmd = Command(c, "SELECT count(*) FROM members WHERE user_id = $user", ("$user", userId));
            return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationView>> ListConversationsAsync(string userId, CancellationToken ct) =>
        ReadAsync<IReadOnlyList<ConversationView>>(c =>
        {
            using var cmd = Command(c, ViewSql + " m.user_id = $user ORDER BY m.joined_at, c.id", ("$user", userId));
            using var r = cmd.ExecuteReader();
            var views = new List<ConversationView>();
            while (r.Read())
            {
                views.Add(View(r));
            }

            return views;
        }, ct);

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>> ListConversationsOfUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        if (userIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>>(new Dictionary<string, IReadOnlyList<ConversationView>>());
        }

        // One JSON array parameter instead of a variable IN list keeps the statement text constant at any size.
        var ids = JsonSerializer.Serialize(userIds.Distinct(StringComparer.Ordinal));
        return ReadAsync<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>>(c =>
        {
            using var cmd = Command(c, ViewSql + " m.user_id IN (SELECT value FROM json_each($ids)) ORDER BY m.user_id, m.joined_at, c.id", ("$ids", ids));
            using var r = cmd.ExecuteReader();
            var byUser = new Dictionary<string, List<ConversationView>>(StringComparer.Ordinal);
            while (r.Read())
            {
                var user = r.GetString(11);
                if (!byUser.TryGetValue(user, out var views))
                {
                    views = [];
                    byUser[user] = views;
                }

                views.Add(View(r));
            }

            var result = new Dictionary<string, IReadOnlyList<ConversationView>>(StringComparer.Ordinal);
            foreach (var userId in userIds)
            {
                result[userId] = byUser.TryGetValue(userId, out var views) ? views : [];
            }

            return result;
        }, ct);
    }

    /// <inheritdoc />
    public Task<ConversationView?> GetConversationViewAsync(string convId, string userId, CancellationToken ct) =>
        ReadAsync(c =>
        {
            using var cmd = Command(c, ViewSql + " m.user_id = $user AND m.conv_id = $conv", ("$user", userId), ("$conv", convId));
            using var r = cmd.ExecuteReader();
            return r.Read() ? View(r) : null;
        }, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListPresenceConversationsAsync(string userId, int maxRoomMembers, CancellationToken ct) =>
        ReadAsync(c => Strings(
            c,
            """
            SELECT c.id FROM members m JOIN conversations c ON c.id = m.conv_id
            WHERE m.user_id = $user AND (c.kind = 'dm' OR c.member_count <= $max)
            ORDER BY c.id
            """,
            ("$user", userId), ("$max", maxRoomMembers)), ct);

    private static User? QueryUser(SqliteConnection c, string column, string value)
    {
        // column is one of two constants chosen by the callers above, never input.
        using var cmd = Command(c, $"SELECT {UserColumns} FROM users WHERE {column} = $value", ("$value", value));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadUser(r) : null;
    }

    /// <summary>Inserts a membership with both watermarks at <paramref name="seq"/>; false when it already existed.</summary>
    private static bool InsertMember(SqliteTransaction tx, string convId, string userId, long seq, long ts)
    {
        using var cmd = Command(
            tx,
            "INSERT INTO members (conv_id, user_id, delivered_seq, read_seq, joined_at) VALUES ($conv, $user, $seq, $seq, $ts) ON CONFLICT (conv_id, user_id) DO NOTHING",
            ("$conv", convId), ("$user", userId), ("$seq", seq), ("$ts", ts));
        return cmd.ExecuteNonQuery() == 1;
    }

    private static ConversationView View(SqliteDataReader r) => new(
        ReadConversation(r),
        DeliveredSeq: r.GetInt64(7),
        ReadSeq: r.GetInt64(8),
        Peer: r.IsDBNull(9) || r.IsDBNull(10) ? null : new UserRef(r.GetString(9), r.GetString(10)));

    private static IReadOnlyList<string> Strings(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(c, sql, parameters);
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read())
        {
            list.Add(r.GetString(0));
        }

        return list;
    }
}
