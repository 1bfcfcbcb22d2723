using Npgsql;
using static Parley.Store.Postgres.PostgresRows;
using static Parley.Store.Relational.RelationalRows;

namespace Parley.Store.Postgres;

/// <summary>Users, conversations and memberships.</summary>
public sealed partial class PostgresChatStore
{
    // A DM's peer is looked up per row, through the members key, and only for DMs (a one-time filter per row): written
    // as a plain LEFT JOIN, PostgreSQL hash-joined the whole members table on every call — 4 ms for 20 users at 10,000
    // memberships, so a reconnect storm's batched hello reads cost it most of a core.
    private const string ViewSql = $"""
        SELECT {ConversationColumns}, m.delivered_seq, m.read_seq, p.user_id, u.username, m.user_id
        FROM members m
        JOIN conversations c ON c.id = m.conv_id
        LEFT JOIN LATERAL (
            SELECT p.user_id FROM members p WHERE c.kind = 'dm' AND p.conv_id = c.id AND p.user_id <> m.user_id LIMIT 1
        ) p ON true
        LEFT JOIN users u ON u.id = p.user_id
        WHERE
        """;

    /// <inheritdoc />
    public Task<User?> CreateUserAsync(User user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        return QueryFirstAsync(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (@id, @name, @hash, @ts) ON CONFLICT (username) DO NOTHING RETURNING id",
            [P("id", user.Id), P("name", user.Username), P("hash", user.PasswordHash), P("ts", user.CreatedAt)],
            _ => user,
            ct);
    }

    /// <inheritdoc />
    public Task<User?> FindUserByNameAsync(string username, CancellationToken ct) =>
        QueryFirstAsync($"SELECT {UserColumns} FROM users WHERE username = @v", [P("v", username)], ReadUser, ct);

    /// <inheritdoc />
    public Task<User?> GetUserAsync(string userId, CancellationToken ct) =>
        QueryFirstAsync($"SELECT {UserColumns} FROM users WHERE id = @v", [P("v", userId)], ReadUser, ct);

    /// <inheritdoc />
    public Task<ConversationInfo> CreateRoomAsync(string convId, string ownerId, string name, bool isPrivate, long ts, CancellationToken ct) =>
        GuardAsync(async token =>
        {
            // One statement, so the room and its owner's membership commit together.
            await using var cmd = _dataSource.CreateCommand("""
                WITH conv AS (
                    INSERT INTO conversations (id, kind, name, private, owner_id, last_seq, member_count, dm_key, created_at)
                    VALUES (@id, 'room', @name, @private, @owner, 0, 1, NULL, @ts)
                    RETURNING id)
                INSERT INTO members (conv_id, user_id, delivered_seq, read_seq, joined_at)
                SELECT id, @owner, 0, 0, @ts FROM conv
                """);
            AddParameters(cmd, [P("id", convId), P("name", name), P("private", isPrivate), P("owner", ownerId), P("ts", ts)]);
            await cmd.ExecuteNonQueryAsync(token);
            return new ConversationInfo(convId, ConversationKind.Room, name, isPrivate, ownerId, 0, 1);
        }, ct);

    /// <inheritdoc />
    public async Task<(ConversationInfo Conversation, bool Created)> GetOrCreateDmAsync(string newConvId, string userA, string userB, long ts, CancellationToken ct)
    {
        if (string.Equals(userA, userB, StringComparison.Ordinal))
        {
            throw new ArgumentException("a DM needs two different users", nameof(userB));
        }

        var key = DmKey(userA, userB);
        var existing = await FindDmAsync(key, ct);
        if (existing is not null)
        {
            return (existing, false);
        }

        var created = await GuardAsync(async token =>
        {
            // A concurrent creator of the same pair makes ON CONFLICT wait for its commit and then insert nothing.
            await using var cmd = _dataSource.CreateCommand("""
                WITH conv AS (
                    INSERT INTO conversations (id, kind, name, private, owner_id, last_seq, member_count, dm_key, created_at)
                    VALUES (@id, 'dm', '', TRUE, NULL, 0, 2, @key, @ts)
                    ON CONFLICT (dm_key) DO NOTHING
                    RETURNING id),
                added AS (
                    INSERT INTO members (conv_id, user_id, delivered_seq, read_seq, joined_at)
                    SELECT conv.id, u.id, 0, 0, @ts FROM conv CROSS JOIN unnest(@users) AS u (id))
                SELECT count(*) FROM conv
                """);
            AddParameters(cmd, [P("id", newConvId), P("key", key), P("ts", ts), P("users", new[] { userA, userB })]);
            return (long)(await cmd.ExecuteScalarAsync(token))! == 1;
        }, ct);
        if (created)
        {
            return (new ConversationInfo(newConvId, ConversationKind.Dm, "", true, null, 0, 2), true);
        }

        return (await FindDmAsync(key, ct) ?? throw new InvalidOperationException($"the DM {key} conflicted but cannot be found"), false);
    }

    /// <inheritdoc />
    public Task<ConversationInfo?> GetConversationAsync(string convId, CancellationToken ct) =>
        QueryFirstAsync($"SELECT {ConversationColumns} FROM conversations c WHERE c.id = @id", [P("id", convId)], r => ReadConversation(r), ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationInfo>> ListPublicRoomsAsync(int limit, CancellationToken ct) =>
        limit <= 0 ? Task.FromResult<IReadOnlyList<ConversationInfo>>([]) : QueryListAsync(
            $"SELECT {ConversationColumns} FROM conversations c WHERE c.kind = 'room' AND NOT c.private ORDER BY c.member_count DESC, c.id LIMIT @limit",
            [P("limit", limit)],
            r => ReadConversation(r),
            ct);

    /// <inheritdoc />
    public Task<MemberAddStatus> AddMemberAsync(string convId, string userId, long ts, CancellationToken ct) =>
        GuardAsync(async token =>
        {
            // Locking the counter row waits for an append in flight, so the new member starts at the true head.
            await using var cmd = _dataSource.CreateCommand("""
                WITH conv AS (
                    SELECT id, last_seq FROM conversations WHERE id = @conv FOR NO KEY UPDATE),
                added AS (
                    INSERT INTO members (conv_id, user_id, delivered_seq, read_seq, joined_at)
                    SELECT id, @user, last_seq, last_seq, @ts FROM conv
                    ON CONFLICT (conv_id, user_id) DO NOTHING
                    RETURNING conv_id),
                counted AS (
                    UPDATE conversations SET member_count = member_count + 1 WHERE id IN (SELECT conv_id FROM added))
                SELECT EXISTS (SELECT 1 FROM conv), EXISTS (SELECT 1 FROM added)
                """);
            AddParameters(cmd, [P("conv", convId), P("user", userId), P("ts", ts)]);
            await using var r = await cmd.ExecuteReaderAsync(token);
            await r.ReadAsync(token);
            return !r.GetBoolean(0) ? MemberAddStatus.NoConversation
                : r.GetBoolean(1) ? MemberAddStatus.Added
                : MemberAddStatus.AlreadyMember;
        }, ct);

    /// <inheritdoc />
    public Task<bool> RemoveMemberAsync(string convId, string userId, CancellationToken ct) =>
        GuardAsync(async token =>
        {
            await using var cmd = _dataSource.CreateCommand("""
                WITH removed AS (
                    DELETE FROM members WHERE conv_id = @conv AND user_id = @user RETURNING conv_id),
                counted AS (
                    UPDATE conversations SET member_count = member_count - 1 WHERE id IN (SELECT conv_id FROM removed))
                SELECT count(*) FROM removed
                """);
            AddParameters(cmd, [P("conv", convId), P("user", userId)]);
            return (long)(await cmd.ExecuteScalarAsync(token))! == 1;
        }, ct);

    /// <inheritdoc />
    public Task<Membership?> GetMembershipAsync(string convId, string userId, CancellationToken ct) =>
        QueryFirstAsync(
            "SELECT delivered_seq, read_seq FROM members WHERE conv_id = @conv AND user_id = @user",
            [P("conv", convId), P("user", userId)],
            r => new Membership(convId, userId, r.GetInt64(0), r.GetInt64(1)),
            ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListMemberIdsAsync(string convId, CancellationToken ct) =>
        QueryListAsync("SELECT user_id FROM members WHERE conv_id = @conv ORDER BY joined_at, user_id", [P("conv", convId)], r => r.GetString(0), ct);

    /// <inheritdoc />
    public async Task<int> CountConversationsAsync(string userId, CancellationToken ct) =>
        (int)await QueryFirstAsync("SELECT count(*) FROM members WHERE user_id = @user", [P("user", userId)], r => r.GetInt64(0), ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ConversationView>> ListConversationsAsync(string userId, CancellationToken ct) =>
        QueryListAsync(ViewSql + " m.user_id = @user ORDER BY m.joined_at, c.id", [P("user", userId)], View, ct);

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>> ListConversationsOfUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(userIds);
        var byUser = new Dictionary<string, IReadOnlyList<ConversationView>>(StringComparer.Ordinal);
        if (userIds.Count == 0)
        {
            return byUser;
        }

        var rows = await QueryListAsync(
            ViewSql + " m.user_id = ANY(@users) ORDER BY m.user_id, m.joined_at, c.id",
            [P("users", userIds.Distinct(StringComparer.Ordinal).ToArray())],
            r => (User: r.GetString(11), View: View(r)),
            ct);
        foreach (var group in rows.GroupBy(x => x.User, StringComparer.Ordinal))
        {
            byUser[group.Key] = group.Select(x => x.View).ToList();
        }

        foreach (var userId in userIds)
        {
            byUser.TryAdd(userId, []);
        }

        return byUser;
    }

    /// <inheritdoc />
    public Task<ConversationView?> GetConversationViewAsync(string convId, string userId, CancellationToken ct) =>
        QueryFirstAsync(ViewSql + " m.user_id = @user AND m.conv_id = @conv", [P("user", userId), P("conv", convId)], View, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> ListPresenceConversationsAsync(string userId, int maxRoomMembers, CancellationToken ct) =>
        QueryListAsync(
            """
            SELECT c.id FROM members m JOIN conversations c ON c.id = m.conv_id
            WHERE m.user_id = @user AND (c.kind = 'dm' OR c.member_count <= @max)
            ORDER BY c.id
            """,
            [P("user", userId), P("max", maxRoomMembers)],
            r => r.GetString(0),
            ct);

    private Task<ConversationInfo?> FindDmAsync(string key, CancellationToken ct) =>
        QueryFirstAsync($"SELECT {ConversationColumns} FROM conversations c WHERE c.dm_key = @key", [P("key", key)], r => ReadConversation(r), ct);

    private static ConversationView View(NpgsqlDataReader r) => new(
        ReadConversation(r),
        DeliveredSeq: r.GetInt64(7),
        ReadSeq: r.GetInt64(8),
        Peer: r.IsDBNull(9) || r.IsDBNull(10) ? null : new UserRef(r.GetString(9), r.GetString(10)));
}
