using Npgsql;
using static Parley.Store.Postgres.PostgresRows;

namespace Parley.Store.Postgres;

/// <summary>Appending and reading messages, and the per-member watermarks.</summary>
public sealed partial class PostgresChatStore
{
    // Row locks on the counter rows are taken in id order by every append, on every node, so two batches that share
    // conversations wait for each other instead of deadlocking.
    private const string LockHeadsSql = "SELECT id, last_seq FROM conversations WHERE id = ANY(@convs) ORDER BY id FOR NO KEY UPDATE";

    private const string MembersSql = """
        SELECT m.conv_id, m.user_id
        FROM members m JOIN unnest(@convs, @users) AS k (conv_id, user_id) ON m.conv_id = k.conv_id AND m.user_id = k.user_id
        """;

    private const string OriginalsSql = $"""
        SELECT {QualifiedMessageColumns}
        FROM messages m JOIN unnest(@convs, @senders, @keys) AS k (conv_id, sender_id, client_msg_id)
            ON m.conv_id = k.conv_id AND m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id
        """;

    private const string SetHeadsSql = """
        UPDATE conversations c SET last_seq = h.last_seq
        FROM unnest(@convs, @seqs) AS h (id, last_seq) WHERE c.id = h.id
        """;

    private const string InsertSql = $"""
        INSERT INTO messages ({MessageColumns})
        SELECT * FROM unnest(@convs, @seqs, @ids, @senders, @names, @bodies, @ts, @keys, @nodes)
        """;

    /// <inheritdoc />
    public Task<IReadOnlyList<AppendResult>> AppendBatchAsync(IReadOnlyList<AppendRequest> batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<AppendResult>>([]);
        }

        return GuardAsync(async token =>
        {
            try
            {
                return await AppendOnceAsync(batch, token);
            }
            catch (PostgresException e) when (PostgresErrors.IsRetryable(e))
            {
                // Appends cannot deadlock each other (ordered locks); this covers other writers of the same rows.
                return await AppendOnceAsync(batch, token);
            }
        }, ct);
    }

    /// <summary>
    /// One transaction in three round trips: lock the counter rows and read memberships and earlier copies; store the
    /// new messages with their counters; commit.
    /// </summary>
    private async Task<IReadOnlyList<AppendResult>> AppendOnceAsync(IReadOnlyList<AppendRequest> batch, CancellationToken ct)
    {
        var convs = batch.Select(r => r.Conv).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var pairs = batch.Select(r => (r.Conv, r.SenderId)).Distinct().ToArray();
        var keys = batch.Select(r => (r.Conv, r.SenderId, r.ClientMsgId)).Distinct().ToArray();

        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);

        var heads = new Dictionary<string, long>(StringComparer.Ordinal);
        var members = new HashSet<(string Conv, string User)>();
        var known = new Dictionary<(string Conv, string Sender, string Key), StoredMessage>();
        await using (var read = new NpgsqlBatch(connection, tx))
        {
            // Statements of a batch run in order, each with a fresh snapshot, so the reads below see everything
            // committed by the appends that held these locks before us.
            read.BatchCommands.Add(Statement(LockHeadsSql, P("convs", convs)));
            read.BatchCommands.Add(Statement(MembersSql, P("convs", pairs.Select(p => p.Conv).ToArray()), P("users", pairs.Select(p => p.SenderId).ToArray())));
            read.BatchCommands.Add(Statement(
                OriginalsSql,
                P("convs", keys.Select(k => k.Conv).ToArray()),
                P("senders", keys.Select(k => k.SenderId).ToArray()),
                P("keys", keys.Select(k => k.ClientMsgId).ToArray())));
            await using var r = await read.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                heads[r.GetString(0)] = r.GetInt64(1);
            }

            await r.NextResultAsync(ct);
            while (await r.ReadAsync(ct))
            {
                members.Add((r.GetString(0), r.GetString(1)));
            }

            await r.NextResultAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var m = ReadMessage(r);
                known[(m.Conv, m.From, m.ClientMsgId)] = m;
            }
        }

        var results = new AppendResult[batch.Count];
        var stored = new List<StoredMessage>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var req = batch[i];
            if (!members.Contains((req.Conv, req.SenderId)))
            {
                results[i] = AppendResult.NotMember;
            }
            else if (known.TryGetValue((req.Conv, req.SenderId, req.ClientMsgId), out var original))
            {
                results[i] = new AppendResult(AppendStatus.Duplicate, original);
            }
            else
            {
                var seq = heads[req.Conv] + 1;
                heads[req.Conv] = seq;
                var message = new StoredMessage(req.Conv, seq, req.MessageId, req.SenderId, req.SenderName, req.Body, req.Ts, req.ClientMsgId, req.Node);
                known[(req.Conv, req.SenderId, req.ClientMsgId)] = message;
                stored.Add(message);
                results[i] = new AppendResult(AppendStatus.Stored, message);
            }
        }

        if (stored.Count > 0)
        {
            var touched = stored.Select(m => m.Conv).Distinct(StringComparer.Ordinal).ToArray();
            await using var write = new NpgsqlBatch(connection, tx);
            write.BatchCommands.Add(Statement(SetHeadsSql, P("convs", touched), P("seqs", touched.Select(c => heads[c]).ToArray())));
            write.BatchCommands.Add(Statement(
                InsertSql,
                P("convs", stored.Select(m => m.Conv).ToArray()),
                P("seqs", stored.Select(m => m.Seq).ToArray()),
                P("ids", stored.Select(m => m.Id).ToArray()),
                P("senders", stored.Select(m => m.From).ToArray()),
                P("names", stored.Select(m => m.FromName).ToArray()),
                P("bodies", stored.Select(m => m.Body).ToArray()),
                P("ts", stored.Select(m => m.Ts).ToArray()),
                P("keys", stored.Select(m => m.ClientMsgId).ToArray()),
                P("nodes", stored.Select(m => m.Node).ToArray())));
            await write.ExecuteNonQueryAsync(ct);
        }

        // Not cancellable: once the commit is sent, giving up on its answer would only hide whether it happened.
        await tx.CommitAsync(CancellationToken.None);
        return results;
    }

    /// <inheritdoc />
    public Task<MessagePage> ReadMessagesAsync(string convId, HistoryQuery query, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));
        var before = query.Before ?? long.MaxValue;
        return GuardAsync(async token =>
        {
            // One row past the limit tells whether more exist in the paging direction.
            await using var cmd = query.FromNewest
                ? _dataSource.CreateCommand($"SELECT {MessageColumns} FROM messages WHERE conv_id = @conv AND seq < @before ORDER BY seq DESC LIMIT @n")
                : _dataSource.CreateCommand($"SELECT {MessageColumns} FROM messages WHERE conv_id = @conv AND seq > @after AND seq < @before ORDER BY seq LIMIT @n");
            AddParameters(cmd, [P("conv", convId), P("before", before), P("after", query.After ?? 0), P("n", (long)query.Limit + 1)]);
            await using var r = await cmd.ExecuteReaderAsync(token);
            var messages = new List<StoredMessage>(Math.Min(query.Limit, 256));
            while (await r.ReadAsync(token))
            {
                messages.Add(ReadMessage(r));
            }

            var hasMore = messages.Count > query.Limit;
            if (hasMore)
            {
                messages.RemoveAt(messages.Count - 1);
            }

            if (query.FromNewest)
            {
                messages.Reverse();
            }

            return new MessagePage(messages, hasMore);
        }, ct);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, long>> GetLastSeqsAsync(IReadOnlyCollection<string> convIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(convIds);
        if (convIds.Count == 0)
        {
            return new Dictionary<string, long>();
        }

        var rows = await QueryListAsync(
            "SELECT id, last_seq FROM conversations WHERE id = ANY(@ids)",
            [P("ids", convIds.ToArray())],
            r => (Id: r.GetString(0), Seq: r.GetInt64(1)),
            ct);
        return rows.ToDictionary(x => x.Id, x => x.Seq, StringComparer.Ordinal);
    }

    // One statement per raise: "cur" locks the member row and reads the values before the change, "raised" applies it
    // with GREATEST so concurrent raises from several devices can only move the watermarks up.
    private const string RaiseSql = """
        WITH cur AS (
            SELECT m.delivered_seq, m.read_seq, c.last_seq
            FROM members m JOIN conversations c ON c.id = m.conv_id
            WHERE m.conv_id = @conv AND m.user_id = @user
            FOR NO KEY UPDATE OF m),
        raised AS (
            UPDATE members m
            SET delivered_seq = GREATEST(m.delivered_seq, @seq),
                read_seq = CASE WHEN @read THEN GREATEST(m.read_seq, @seq) ELSE m.read_seq END
            FROM cur
            WHERE m.conv_id = @conv AND m.user_id = @user AND @seq <= cur.last_seq
              AND (@seq > cur.delivered_seq OR (@read AND @seq > cur.read_seq))
            RETURNING m.delivered_seq, m.read_seq)
        SELECT cur.delivered_seq, cur.read_seq, cur.last_seq, raised.delivered_seq, raised.read_seq
        FROM cur LEFT JOIN raised ON TRUE
        """;

    /// <inheritdoc />
    public Task<IReadOnlyList<WatermarkResult>> RaiseWatermarksAsync(IReadOnlyList<WatermarkUpdate> updates, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(updates);
        if (updates.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<WatermarkResult>>([]);
        }

        return GuardAsync<IReadOnlyList<WatermarkResult>>(async token =>
        {
            // Member rows are locked in (conv, user) order, as every batch does, so concurrent batches cannot deadlock;
            // the stable sort keeps one member's raises in request order.
            var order = Enumerable.Range(0, updates.Count)
                .OrderBy(i => updates[i].ConvId, StringComparer.Ordinal)
                .ThenBy(i => updates[i].UserId, StringComparer.Ordinal)
                .ToArray();
            await using var connection = await _dataSource.OpenConnectionAsync(token);
            await using var tx = await connection.BeginTransactionAsync(token);
            await using var batch = new NpgsqlBatch(connection, tx);
            foreach (var i in order)
            {
                var u = updates[i];
                var cmd = new NpgsqlBatchCommand(RaiseSql);
                cmd.Parameters.Add(P("conv", u.ConvId));
                cmd.Parameters.Add(P("user", u.UserId));
                cmd.Parameters.Add(P("seq", u.Seq));
                cmd.Parameters.Add(P("read", u.Kind == WatermarkKind.Read));
                batch.BatchCommands.Add(cmd);
            }

            var results = new WatermarkResult[updates.Count];
            await using (var r = await batch.ExecuteReaderAsync(token))
            {
                foreach (var i in order)
                {
                    results[i] = await ReadRaiseAsync(r, updates[i].Seq, token);
                    await r.NextResultAsync(token);
                }
            }

            await tx.CommitAsync(token);
            return results;
        }, ct);
    }

    private static async Task<WatermarkResult> ReadRaiseAsync(NpgsqlDataReader r, long seq, CancellationToken ct)
    {
        if (!await r.ReadAsync(ct))
        {
            return new WatermarkResult(WatermarkStatus.NotMember, 0, 0, false, false);
        }

        var (delivered, read, head) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        if (seq > head)
        {
            return new WatermarkResult(WatermarkStatus.AboveHead, delivered, read, false, false);
        }

        if (r.IsDBNull(3))
        {
            return new WatermarkResult(WatermarkStatus.Ok, delivered, read, false, false);
        }

        var (newDelivered, newRead) = (r.GetInt64(3), r.GetInt64(4));
        return new WatermarkResult(WatermarkStatus.Ok, newDelivered, newRead, newDelivered > delivered, newRead > read);
    }
}
