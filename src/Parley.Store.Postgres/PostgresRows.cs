using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>Parameters and batch statements for the PostgreSQL queries (the column lists and row readers both SQL stores
/// share are in <see cref="Parley.Store.Relational.RelationalRows"/>).</summary>
internal static class PostgresRows
{
    public const string QualifiedMessageColumns = "m.conv_id, m.seq, m.id, m.sender_id, m.sender_name, m.body, m.ts, m.client_msg_id, m.node";

    /// <summary>A strongly typed parameter (arrays map to PostgreSQL arrays, e.g. <c>string[]</c> to <c>text[]</c>).</summary>
    public static NpgsqlParameter<T> P<T>(string name, T value) => new(name, value);

    /// <summary>A strongly typed parameter for <c>$1</c>-style placeholders, bound in the order added.</summary>
    public static NpgsqlParameter<T> Positional<T>(T value) => new() { TypedValue = value };

    /// <summary>A batch command with parameters.</summary>
    public static NpgsqlBatchCommand Statement(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var p in parameters)
        {
            command.Parameters.Add(p);
        }

        return command;
    }
}
