using Microsoft.Data.Sqlite;

namespace Parley.Store.Sqlite;

/// <summary>Commands and error classification for the SQLite queries (the column lists and row readers both SQL stores
/// share are in <see cref="Parley.Store.Relational.RelationalRows"/>).</summary>
internal static class SqliteRows
{
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
