using Npgsql;
using static Parley.Store.Postgres.PostgresRows;
using static Parley.Store.Relational.RelationalRows;

namespace Parley.Store.Postgres;

/// <summary>Appending and reading messages, and the per-member watermarks.</summary>
public sealed partial class PostgresChatStore
{
    // See PostgresSchema.AppendFunction: locks, membership and duplicate checks, seqs and inserts in one statement.
    // Positional parameters: Npgsql sends the text as it is, without parsing it for names on every call.
    private const string AppendSql = "SELECT o_outcome, o_seq, o_id, o_name, o_body, o_ts, o_node FROM parley_append($1, $2, $3, $4, $5, $6, $7, $8)";

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
    /// One statement, one round trip: its implicit transaction commits before the server finishes answering, and the
    /// answer is read to its end (where a failed commit would be reported) before any result is returned.
    /// </summary>
    private async Task<IReadOnlyList<AppendResult>> AppendOnceAsync(IReadOnlyList<AppendRequest> batch, CancellationToken ct)
    {
        var n = batch.Count;
        string[] convs = new string[n], senders = new string[n], keys = new string[n], ids = new string[n], names = new string[n],
            bodies = new string[n], nodes = new string[n];
        var ts = new long[n];
        for (var k = 0; k < n; k++)
        {
            var req = batch[k];
            (convs[k], senders[k], keys[k], ids[k], names[k], bodies[k], ts[k], nodes[k]) =
                (req.Conv, req.SenderId, req.ClientMsgId, req.MessageId, req.SenderName, req.Body, req.Ts, req.Node);
        }

        await using var cmd = _dataSource.CreateCommand(AppendSql);
        AddParameters(cmd, [Positional(convs), Positional(senders), Positional(keys), Positional(ids), Positional(names), Positional(bodies), Positional(ts), Positional(nodes)]);
        var results = new AppendResult[batch.Count];
        var i = 0;
        await using (var r = await cmd.ExecuteReaderAsync(ct))
        {
            for (; await r.ReadAsync(ct); i++)
            {
                var req = batch[i];
                results[i] = r.GetInt16(0) switch
                {
                    1 => new AppendResult(AppendStatus.Stored, new StoredMessage(
                        req.Conv, r.GetInt64(1), req.MessageId, req.SenderId, req.SenderName, req.Body, req.Ts, req.ClientMsgId, req.Node)),
                    2 => new AppendResult(AppendStatus.Duplicate, new StoredMessage(
                        req.Conv, r.GetInt64(1), r.GetString(2), req.SenderId, r.GetString(3), r.GetString(4), r.GetInt64(5), req.ClientMsgId, r.GetString(6))),
                    _ => AppendResult.NotMember,
                };
            }

            while (await r.NextResultAsync(ct))
            {
            }
        }

        if (i != batch.Count)
        {
            throw new InvalidOperationException($"parley_append answered {i} rows for {batch.Count} requests");
        }

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

            return Page(messages, query);
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
