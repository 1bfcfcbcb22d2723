using Npgsql;

namespace Parley.Store.Postgres;

/// <summary>Typed parameters for the PostgreSQL queries (the column lists and row readers both SQL stores
/// share are in <see cref="Parley.Store.Relational.RelationalRows"/>).</summary>
internal static class PostgresRows
{
    /// <summary>A strongly typed parameter (arrays map to PostgreSQL arrays, e.g. <c>string[]</c> to <c>text[]</c>).</summary>
    public static NpgsqlParameter<T> P<T>(string name, T value) => new(name, value);

    /// <summary>A strongly typed parameter for <c>$1</c>-style placeholders, bound in the order added.</summary>
    public static NpgsqlParameter<T> Positional<T>(T value) => new() { TypedValue = value };
}
