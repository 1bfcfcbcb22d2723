using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>
/// The schema as an ordered list of migrations recorded in <c>schema_version</c>. Each migration runs in its own
/// transaction under a transaction-scoped advisory lock, so nodes starting together apply each one exactly once.
/// </summary>
internal static class PostgresSchema
{
    // Any constant works as long as every node uses the same one; this is "Parley" in ASCII.
    private const long MigrationLock = 0x5061726C6579;

    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE users (
            id            text PRIMARY KEY,
            username      text NOT NULL UNIQUE,
            password_hash text NOT NULL,
            created_at    bigint NOT NULL
        );

        CREATE TABLE conversations (
            id           text PRIMARY KEY,
            kind         text NOT NULL CHECK (kind IN ('room', 'dm')),
            name         text NOT NULL,
            private      boolean NOT NULL,
            owner_id     text NULL REFERENCES users (id),
            last_seq     bigint NOT NULL DEFAULT 0,
            member_count integer NOT NULL DEFAULT 0,
            dm_key       text NULL UNIQUE,
            created_at   bigint NOT NULL
        );

        CREATE INDEX conversations_public ON conversations (member_count DESC, id)
            WHERE kind = 'room' AND NOT private;

        CREATE TABLE members (
            conv_id       text NOT NULL REFERENCES conversations (id),
            user_id       text NOT NULL REFERENCES users (id),
            delivered_seq bigint NOT NULL,
            read_seq      bigint NOT NULL,
            joined_at     bigint NOT NULL,
            PRIMARY KEY (conv_id, user_id)
        );

        CREATE INDEX members_by_user ON members (user_id, conv_id);

        CREATE TABLE messages (
            conv_id       text NOT NULL REFERENCES conversations (id),
            seq           bigint NOT NULL,
            id            text NOT NULL,
            sender_id     text NOT NULL,
            sender_name   text NOT NULL,
            client_msg_id text NOT NULL,
            body          text NOT NULL,
            ts            bigint NOT NULL,
            node          text NOT NULL,
            PRIMARY KEY (conv_id, seq),
            UNIQUE (conv_id, sender_id, client_msg_id)
        );
        """,
        AppendFunction,
        LeanAppend,
    ];

    /// <summary>
    /// Migration 2: the whole append of a batch as one statement, so a batch is one round trip whose implicit
    /// transaction commits before the statement's answer is complete. Per request, in order: a sender who is not a
    /// member gets outcome 0; a (conv, sender, clientMsgId) stored before — in an earlier batch or earlier in this one —
    /// gets 2 with the original; anything else is stored with the conversation's next seq and gets 1.
    /// </summary>
    /// <remarks>
    /// The counter rows are locked first, in id order, by every append on every node, so batches sharing conversations
    /// queue instead of deadlocking. Each statement of a PL/pgSQL function takes a fresh snapshot, so the membership
    /// and duplicate checks after the lock see everything committed by the appends that held it before.
    /// </remarks>
    private const string AppendFunction = """
        CREATE FUNCTION parley_append(
            p_convs text[], p_senders text[], p_keys text[], p_ids text[], p_names text[],
            p_bodies text[], p_ts bigint[], p_nodes text[])
        RETURNS TABLE (o_outcome smallint, o_seq bigint, o_id text, o_name text, o_body text, o_ts bigint, o_node text)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            i integer;
            found_row record;
        BEGIN
            PERFORM 1 FROM conversations c WHERE c.id = ANY (p_convs) ORDER BY c.id FOR NO KEY UPDATE OF c;
            FOR i IN 1 .. coalesce(array_length(p_convs, 1), 0) LOOP
                o_seq := NULL; o_id := NULL; o_name := NULL; o_body := NULL; o_ts := NULL; o_node := NULL;
                IF NOT EXISTS (SELECT 1 FROM members mb WHERE mb.conv_id = p_convs[i] AND mb.user_id = p_senders[i]) THEN
                    o_outcome := 0;
                    RETURN NEXT;
                    CONTINUE;
                END IF;

                SELECT ms.seq, ms.id, ms.sender_name, ms.body, ms.ts, ms.node INTO found_row
                FROM messages ms
                WHERE ms.conv_id = p_convs[i] AND ms.sender_id = p_senders[i] AND ms.client_msg_id = p_keys[i];
                IF FOUND THEN
                    o_outcome := 2;
                    o_seq := found_row.seq; o_id := found_row.id; o_name := found_row.sender_name;
                    o_body := found_row.body; o_ts := found_row.ts; o_node := found_row.node;
                ELSE
                    UPDATE conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_convs[i] RETURNING c.last_seq INTO o_seq;
                    INSERT INTO messages (conv_id, seq, id, sender_id, sender_name, body, ts, client_msg_id, node)
                    VALUES (p_convs[i], o_seq, p_ids[i], p_senders[i], p_names[i], p_bodies[i], p_ts[i], p_keys[i], p_nodes[i]);
                    o_outcome := 1;
                END IF;

                RETURN NEXT;
            END LOOP;
        END
        $fn$
        """;

    /// <summary>
    /// Migration 3: the same append with less work per message (profiled in the direct benchmark, where PostgreSQL took
    /// as much CPU as both nodes together, half of it executing the function's statements one message at a time).
    /// The membership and duplicate checks are one statement, and the counter bump and the insert another, so a message
    /// costs two statement executions instead of four. And messages lose their foreign key to conversations, whose
    /// trigger ran one more lookup, and a row lock, per insert: a message is inserted only here, for a sender whose
    /// membership was just checked (members rows reference the conversation), and conversations are never deleted.
    /// Outcomes and their order are unchanged: not a member (0) before duplicate (2) before stored (1). Its statements
    /// use generic plans from the first call: every one is a lookup by key, and each new pooled connection would
    /// otherwise plan them afresh for five calls (and for good when the planner judges the generic plan dearer).
    /// </summary>
    private const string LeanAppend = """
        ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conv_id_fkey;

        CREATE OR REPLACE FUNCTION parley_append(
            p_convs text[], p_senders text[], p_keys text[], p_ids text[], p_names text[],
            p_bodies text[], p_ts bigint[], p_nodes text[])
        RETURNS TABLE (o_outcome smallint, o_seq bigint, o_id text, o_name text, o_body text, o_ts bigint, o_node text)
        LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan
        AS $fn$
        DECLARE
            i integer;
            is_member boolean;
            conv text;
        BEGIN
            -- One key lookup per conversation, in id order (a generic plan of "id = ANY (array)" scans the table).
            FOR conv IN SELECT DISTINCT u FROM unnest(p_convs) AS u ORDER BY u LOOP
                PERFORM 1 FROM conversations c WHERE c.id = conv FOR NO KEY UPDATE OF c;
            END LOOP;
            FOR i IN 1 .. coalesce(array_length(p_convs, 1), 0) LOOP
                SELECT EXISTS (SELECT 1 FROM members mb WHERE mb.conv_id = p_convs[i] AND mb.user_id = p_senders[i]),
                       ms.seq, ms.id, ms.sender_name, ms.body, ms.ts, ms.node
                INTO is_member, o_seq, o_id, o_name, o_body, o_ts, o_node
                FROM (SELECT 1) AS one
                LEFT JOIN messages ms
                    ON ms.conv_id = p_convs[i] AND ms.sender_id = p_senders[i] AND ms.client_msg_id = p_keys[i];
                IF NOT is_member THEN
                    o_outcome := 0;
                    o_seq := NULL; o_id := NULL; o_name := NULL; o_body := NULL; o_ts := NULL; o_node := NULL;
                ELSIF o_seq IS NOT NULL THEN
                    o_outcome := 2;
                ELSE
                    WITH bumped AS (
                        UPDATE conversations c SET last_seq = c.last_seq + 1 WHERE c.id = p_convs[i] RETURNING c.last_seq)
                    INSERT INTO messages (conv_id, seq, id, sender_id, sender_name, body, ts, client_msg_id, node)
                    SELECT p_convs[i], bumped.last_seq, p_ids[i], p_senders[i], p_names[i], p_bodies[i], p_ts[i], p_keys[i], p_nodes[i]
                    FROM bumped
                    RETURNING messages.seq INTO o_seq;
                    o_outcome := 1;
                    o_id := NULL; o_name := NULL; o_body := NULL; o_ts := NULL; o_node := NULL;
                END IF;

                RETURN NEXT;
            END LOOP;
        END
        $fn$
        """;

    /// <summary>Applies every migration the database has not recorded yet.</summary>
    public static Task MigrateAsync(NpgsqlDataSource dataSource, CancellationToken ct) => MigrateAsync(dataSource, Migrations.Length, ct);

    /// <summary>Applies the migrations up to <paramref name="upTo"/> the database has not recorded yet (tests: an older database).</summary>
    internal static async Task MigrateAsync(NpgsqlDataSource dataSource, int upTo, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        for (var version = 1; version <= Math.Min(upTo, Migrations.Length); version++)
        {
            await using var tx = await connection.BeginTransactionAsync(ct);
            await using (var check = new NpgsqlBatch(connection, tx))
            {
                // The lock comes first: creating schema_version concurrently would otherwise race on the catalog.
                check.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(@key)") { Parameters = { new("key", MigrationLock) } });
                check.BatchCommands.Add(new NpgsqlBatchCommand(
                    "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"));
                check.BatchCommands.Add(new NpgsqlBatchCommand("SELECT EXISTS (SELECT 1 FROM schema_version WHERE version = @v)") { Parameters = { new("v", version) } });
                await using var r = await check.ExecuteReaderAsync(ct);
                await r.NextResultAsync(ct);
                await r.ReadAsync(ct);
                if (r.GetBoolean(0))
                {
                    continue;
                }
            }

            // A plain command, not a batch command: Npgsql splits its several statements itself.
            await using (var apply = new NpgsqlCommand(Migrations[version - 1] + ";\nINSERT INTO schema_version (version) VALUES (@v)", connection, tx))
            {
                apply.Parameters.Add(new NpgsqlParameter<int>("v", version));
                await apply.ExecuteNonQueryAsync(ct);
            }

            await tx.CommitAsync(ct);
        }
    }
}
