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
    ];

    /// <summary>Applies every migration the database has not recorded yet.</summary>
    public static async Task MigrateAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        for (var version = 1; version <= Migrations.Length; version++)
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
