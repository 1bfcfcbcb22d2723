using System.Net.Sockets;
using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>Tells an unreachable or failing database (report as unavailable, safe to retry) from a bug (rethrow).</summary>
internal static class PostgresErrors
{
    /// <summary>True when <paramref name="e"/> means the database could not do the work right now.</summary>
    public static bool IsUnavailable(Exception e) => e switch
    {
        PostgresException pg => IsUnavailableState(pg.SqlState),
        // Npgsql's own errors (not sent by the server) are connect, I/O, timeout and pool failures.
        NpgsqlException => true,
        SocketException or IOException or TimeoutException => true,
        _ => false,
    };

    /// <summary>True when the connection itself failed (not just the statement), so other pooled connections may be dead too.</summary>
    /// <remarks>
    /// A timeout is not a loss: a connect, a pool wait or a statement that timed out says the database is slow or
    /// hung, not that the pooled connections are dead. Dropping the whole pool then (as once happened in a reconnect
    /// storm) turns a slow moment into a storm of new connections that time out in their turn.
    /// </remarks>
    public static bool IsConnectionLoss(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal),
        NpgsqlException { InnerException: TimeoutException } => false,
        NpgsqlException or SocketException or IOException => true,
        _ => false,
    };

    /// <summary>True for a deadlock or serialization failure: the transaction was rolled back and may simply run again.</summary>
    public static bool IsRetryable(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure;

    private static bool IsUnavailableState(string state) =>
        state.StartsWith("08", StringComparison.Ordinal)     // connection exception
        || state.StartsWith("53", StringComparison.Ordinal)  // insufficient resources (disk full, too many connections)
        || state.StartsWith("57P", StringComparison.Ordinal) // shutdown, crash, cannot connect now, database dropped
        || state.StartsWith("58", StringComparison.Ordinal)  // system error (I/O)
        || state is PostgresErrorCodes.QueryCanceled         // statement_timeout on the server
            or PostgresErrorCodes.LockNotAvailable
            or PostgresErrorCodes.ReadOnlySqlTransaction     // failed over to a standby
            or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.SerializationFailure;
}
