using System.Globalization;

namespace Parley.Presence.Redis.Resp;

/// <summary>The RESP2 reply kinds. RESP2 has two nulls (bulk and array); both parse to <see cref="Null"/>.</summary>
internal enum RespType
{
    SimpleString,
    Error,
    Integer,
    BulkString,
    Array,
    Null,
}

/// <summary>One parsed reply. Bulk strings are decoded as UTF-8, which is all presence stores.</summary>
internal sealed class RespValue
{
    private readonly string? _text;
    private readonly long _integer;
    private readonly RespValue[]? _items;

    private RespValue(RespType type, string? text, long integer, RespValue[]? items)
    {
        Type = type;
        _text = text;
        _integer = integer;
        _items = items;
    }

    /// <summary>The null reply ($-1 or *-1).</summary>
    public static RespValue Null { get; } = new(RespType.Null, null, 0, null);

    public RespType Type { get; }

    public bool IsNull => Type == RespType.Null;

    public static RespValue SimpleString(string text) => new(RespType.SimpleString, text, 0, null);

    public static RespValue Error(string text) => new(RespType.Error, text, 0, null);

    public static RespValue Integer(long value) => new(RespType.Integer, null, value, null);

    public static RespValue BulkString(string text) => new(RespType.BulkString, text, 0, null);

    public static RespValue Array(RespValue[] items) => new(RespType.Array, null, 0, items);

    /// <summary>The text of a string or error reply, the digits of an integer, null for a null reply.</summary>
    public string? AsString() => Type switch
    {
        RespType.SimpleString or RespType.BulkString or RespType.Error => _text,
        RespType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        RespType.Null => null,
        _ => throw Unexpected("a string"),
    };

    /// <summary>The value of an integer reply, or of a string reply holding digits.</summary>
    public long AsInt64() => Type switch
    {
        RespType.Integer => _integer,
        RespType.SimpleString or RespType.BulkString when long.TryParse(_text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => n,
        _ => throw Unexpected("an integer"),
    };

    /// <summary>The elements of an array reply.</summary>
    public IReadOnlyList<RespValue> AsArray() => _items ?? throw Unexpected("an array");

    public override string ToString() => Type switch
    {
        RespType.Array => "[" + string.Join(", ", _items!.Select(i => i.ToString())) + "]",
        RespType.Null => "(nil)",
        RespType.Error => "(error) " + _text,
        _ => AsString()!,
    };

    private RedisProtocolException Unexpected(string wanted) => new($"expected {wanted} reply, got {Type}: {this}");
}
