using Microsoft.Data.Sqlite;

namespace Parley.Store.Sqlite;

/// <summary>The schema as an ordered list of migrations, tracked with <c>PRAGMA user_version</c>.</summary>
internal static class SqliteSchema
{
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE users (
            id            TEXT NOT NULL PRIMARY KEY,
            username      TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at    INTEGER NOT NULL
        );

        CREATE TABLE conversations (
            id           TEXT NOT NULL PRIMARY KEY,
            kind         TEXT NOT NULL CHECK (kind IN ('room', 'dm')),
            name         TEXT NOT NULL,
            private      INTEGER NOT NULL,
            owner_id     TEXT NULL REFERENCES users (id),
            last_seq     INTEGER NOT NULL DEFAULT 0,
            member_count INTEGER NOT NULL DEFAULT 0,
            dm_key       TEXT NULL UNIQUE,
            created_at   INTEGER NOT NULL
        );

        CREATE INDEX conversations_public ON conversations (member_count DESC, id)
            WHERE kind = 'room' AND private = 0;

        CREATE TABLE members (
            conv_id       TEXT NOT NULL REFERENCES conversations (id),
            user_id       TEXT NOT NULL REFERENCES users (id),
            delivered_seq INTEGER NOT NULL,
            read_seq      INTEGER NOT NULL,
            joined_at     INTEGER NOT NULL,
            PRIMARY KEY (conv_id, user_id)
        );

        CREATE INDEX members_by_user ON members (user_id, conv_id);

        CREATE TABLE messages (
            conv_id       TEXT NOT NULL REFERENCES conversations (id),
            seq           INTEGER NOT NULL,
            id            TEXT NOT NULL,
            sender_id     TEXT NOT NULL,
            sender_name   TEXT NOT NULL,
            client_msg_id TEXT NOT NULL,
            body          TEXT NOT NULL,
            ts            INTEGER NOT NULL,
            node          TEXT NOT NULL,
            PRIMARY KEY (conv_id, seq),
            UNIQUE (conv_id, sender_id, client_msg_id)
        );
        """,
    ];

    /// <summary>Applies every migration the file has not seen yet, each in its own immediate transaction.</summary>
    public static void Migrate(SqliteConnection connection)
    {
        for (var version = 1; version <= Migrations.Length; version++)
        {
            // BEGIN IMMEDIATE takes the write lock before reading the version, so two processes opening the same
            // file cannot both apply one migration.
            using var tx = connection.BeginTransaction(deferred: false);
            using var read = connection.CreateCommand();
            read.Transaction = tx;
            read.CommandText = "PRAGMA user_version";
            var current = Convert.ToInt64(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            if (current >= version)
            {
                continue;
            }

            using var apply = connection.CreateCommand();
            apply.Transaction = tx;
            apply.CommandText = Migrations[version - 1] + $"\nPRAGMA user_version = {version};";
            apply.ExecuteNonQuery();
            tx.Commit();
        }
    }
}
