using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Parley.Store.Relational.RelationalRows;
using static Parley.Store.Sqlite.SqliteRows;

namespace Parley.Store.Sqlite;

/// <summary>Appending and reading messages, and the per-member watermarks.</summary>
public sealed partial class SqliteChatStore
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<AppendResult>> AppendBatchAsync(IReadOnlyList<AppendRequest> batch, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0)
        {
            return [];
        }

        return await WriteAsync(tx =>
        {
            using var member = Command(tx, "SELECT 1 FROM members WHERE conv_id = $conv AND user_id = $user", ("$conv", ""), ("$user", ""));
            using var head = Command(tx, "SELECT last_seq FROM conversations WHERE id = $conv", ("$conv", ""));
            // The unique key turns a repeat into "no row inserted", so one statement both detects duplicates
            // (including a repeat earlier in this batch) and stores new messages.
            using var insert = Command(
                tx,
                $"INSERT INTO messages ({MessageColumns}) VALUES ($conv, $seq, $id, $sender, $name, $body, $ts, $key, $node) ON CONFLICT (conv_id, sender_id, client_msg_id) DO NOTHING",
                ("$conv", ""), ("$seq", 0L), ("$id", ""), ("$sender", ""), ("$name", ""), ("$body", ""), ("$ts", 0L), ("$key", ""), ("$node", ""));
            using var original = Command(
                tx,
                $"SELECT {MessageColumns} FROM messages WHERE conv_id = $conv AND sender_id = $sender AND client_msg_id = $key",
                ("$conv", ""), ("$sender", ""), ("$key", ""));

            var isMember = new Dictionary<(string Conv, string User), bool>();
            // Counter rows are read once and written once per batch; the single writer holds them meanwhile.
            var heads = new Dictionary<string, long>(StringComparer.Ordinal);
            var results = new AppendResult[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var req = batch[i];
                if (!isMember.TryGetValue((req.Conv, req.SenderId), out var allowed))
                {
                    member.Parameters["$conv"].Value = req.Conv;
                    member.Parameters["$user"].Value = req.SenderId;
                    allowed = member.ExecuteScalar() is not null;
                    isMember[(req.Conv, req.SenderId)] = allowed;
                }

                if (!allowed)
                {
                    results[i] = AppendResult.NotMember;
                    continue;
                }

                if (!heads.TryGetValue(req.Conv, out var last))
                {
                    head.Parameters["$conv"].Value = req.Conv;
                    last = (long)head.ExecuteScalar()!;
                }

                var message = new StoredMessage(req.Conv, last + 1, req.MessageId, req.SenderId, req.SenderName, req.Body, req.Ts, req.ClientMsgId, req.Node);
                insert.Parameters["$conv"].Value = message.Conv;
                insert.Parameters["$seq"].Value = message.Seq;
                insert.Parameters["$id"].Value = message.Id;
                insert.Parameters["$sender"].Value = message.From;
                insert.Parameters["$name"].Value = message.FromName;
                insert.Parameters["$body"].Value = message.Body;
                insert.Parameters["$ts"].Value = message.Ts;
                insert.Parameters["$key"].Value = message.ClientMsgId;
                insert.Parameters["$node"].Value = message.Node;
                if (insert.ExecuteNonQuery() == 1)
                {
                    heads[req.Conv] = message.Seq;
                    results[i] = new AppendResult(AppendStatus.Stored, message);
                    continue;
                }

                heads[req.Conv] = last;
                original.Parameters["$conv"].Value = req.Conv;
                original.Parameters["$sender"].Value = req.SenderId;
                original.Parameters["$key"].Value = req.ClientMsgId;
                using var r = original.ExecuteReader();
                r.Read();
                results[i] = new AppendResult(AppendStatus.Duplicate, ReadMessage(r));
            }

            using var bump = Command(tx, "UPDATE conversations SET last_seq = $seq WHERE id = $conv", ("$seq", 0L), ("$conv", ""));
            foreach (var (conv, last) in heads)
            {
                bump.Parameters["$seq"].Value = last;
                bump.Parameters["$conv"].Value = conv;
                bump.ExecuteNonQuery();
            }

            return results;
        }, ct);
    }

    /// <inheritdoc />
    public Task<MessagePage> ReadMessagesAsync(string convId, HistoryQuery query, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1, nameof(query));
        var before = query.Before ?? long.MaxValue;
        return ReadAsync(c =>
        {
            // One row past the limit tells whether more exist in the paging direction.
            using var cmd = query.FromNewest
                ? Command(
                    c,
                    $"SELECT {MessageColumns} FROM messages WHERE conv_id = $conv AND seq < $before ORDER BY seq DESC LIMIT $n",
                    ("$conv", convId), ("$before", before), ("$n", (long)query.Limit + 1))
                : Command(
                    c,
                    $"SELECT {MessageColumns} FROM messages WHERE conv_id = $conv AND seq > $after AND seq < $before ORDER BY seq LIMIT $n",
                    ("$conv", convId), ("$after", query.After!.Value), ("$before", before), ("$n", (long)query.Limit + 1));
            using var r = cmd.ExecuteReader();
            var messages = new List<StoredMessage>(Math.Min(query.Limit, 256));
            while (r.Read())
            {
                messages.Add(ReadMessage(r));
            }

            return Page(messages, query);
        }, ct);
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, long>> GetLastSeqsAsync(IReadOnlyCollection<string> convIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(convIds);
        if (convIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long>());
        }

        // One JSON array parameter instead of a variable IN list keeps the statement text constant at any size.
        var ids = JsonSerializer.Serialize(convIds);
        return ReadAsync<IReadOnlyDictionary<string, long>>(c =>
        {
            using var cmd = Command(c, "SELECT id, last_seq FROM conversations WHERE id IN (SELECT value FROM json_each($ids))", ("$ids", ids));
            using var r = cmd.ExecuteReader();
            var seqs = new Dictionary<string, long>(StringComparer.Ordinal);
            while (r.Read())
            {
                seqs[r.GetString(0)] = r.GetInt64(1);
            }

            return seqs;
        }, ct);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<WatermarkResult>> RaiseWatermarksAsync(IReadOnlyList<WatermarkUpdate> updates, CancellationToken ct) =>
        WriteAsync<IReadOnlyList<WatermarkResult>>(tx => updates.Select(u => Raise(tx, u)).ToList(), ct);

    private static WatermarkResult Raise(SqliteTransaction tx, WatermarkUpdate u)
    {
        long delivered, read, head;
        using (var cmd = Command(
            tx,
            "SELECT m.delivered_seq, m.read_seq, c.last_seq FROM members m JOIN conversations c ON c.id = m.conv_id WHERE m.conv_id = $conv AND m.user_id = $user",
            ("$conv", u.ConvId), ("$user", u.UserId)))
        using (var r = cmd.ExecuteReader())
        {
            if (!r.Read())
            {
                return new WatermarkResult(WatermarkStatus.NotMember, 0, 0, false, false);
            }

            (delivered, read, head) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        }

        if (u.Seq > head)
        {
            return new WatermarkResult(WatermarkStatus.AboveHead, delivered, read, false, false);
        }

        var newDelivered = Math.Max(delivered, u.Seq);
        var newRead = u.Kind == WatermarkKind.Read ? Math.Max(read, u.Seq) : read;
        if (newDelivered != delivered || newRead != read)
        {
            using var update = Command(
                tx,
                "UPDATE members SET delivered_seq = $delivered, read_seq = $read WHERE conv_id = $conv AND user_id = $user",
                ("$delivered", newDelivered), ("$read", newRead), ("$conv", u.ConvId), ("$user", u.UserId));
            update.ExecuteNonQuery();
        }

        return new WatermarkResult(WatermarkStatus.Ok, newDelivered, newRead, newDelivered > delivered, newRead > read);
    }
}
