using System.Buffers.Text;
using System.Text;

namespace Parley.Presence.Redis.Resp;

/// <summary>Parses RESP2 replies from a buffer that may hold several replies, or only part of one.</summary>
internal static class RespParser
{
    // Redis's own proto-max-bulk-len default; anything larger is a corrupt stream, not a reply.
    private const long MaxBulkLength = 512L * 1024 * 1024;

    /// <summary>
    /// Parses one complete reply from the start of <paramref name="data"/>. False when the data ends before the
    /// reply does (read more and call again); throws <see cref="RedisProtocolException"/> on malformed input.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out RespValue? value, out int consumed)
    {
        var position = 0;
        if (TryRead(data, ref position, out value))
        {
            consumed = position;
            return true;
        }

        consumed = 0;
        return false;
    }

    private static bool TryRead(ReadOnlySpan<byte> data, ref int position, out RespValue? value)
    {
        value = null;
        if (position >= data.Length || !TryReadLine(data, position + 1, out var line, out var next))
        {
            return false;
        }

        switch (data[position])
        {
            case (byte)'+':
                value = RespValue.SimpleString(Encoding.UTF8.GetString(line));
                break;
            case (byte)'-':
                value = RespValue.Error(Encoding.UTF8.GetString(line));
                break;
            case (byte)':':
                value = RespValue.Integer(ParseInteger(line));
                break;
            case (byte)'$':
                return TryReadBulk(data, ParseInteger(line), next, ref position, out value);
            case (byte)'*':
                return TryReadArray(data, ParseInteger(line), next, ref position, out value);
            default:
                throw new RedisProtocolException($"unknown RESP type byte 0x{data[position]:x2}");
        }

        position = next;
        return true;
    }

    private static bool TryReadBulk(ReadOnlySpan<byte> data, long length, int start, ref int position, out RespValue? value)
    {
        value = null;
        if (length == -1)
        {
            value = RespValue.Null;
            position = start;
            return true;
        }

        if (length is < 0 or > MaxBulkLength)
        {
            throw new RedisProtocolException($"invalid bulk string length {length}");
        }

        var end = start + (int)length;
        if (end + 2 > data.Length)
        {
            return false;
        }

        if (data[end] != (byte)'\r' || data[end + 1] != (byte)'\n')
        {
            throw new RedisProtocolException("bulk string not terminated by CRLF");
        }

        value = RespValue.BulkString(Encoding.UTF8.GetString(data[start..end]));
        position = end + 2;
        return true;
    }

    private static bool TryReadArray(ReadOnlySpan<byte> data, long count, int start, ref int position, out RespValue? value)
    {
        value = null;
        if (count == -1)
        {
            value = RespValue.Null;
            position = start;
            return true;
        }

        if (count < 0)
        {
            throw new RedisProtocolException($"invalid array length {count}");
        }

        // Every element takes at least 3 bytes ("+\r\n"): do not allocate for elements that have not arrived yet.
        if (count > (data.Length - start) / 3)
        {
            return false;
        }

        var items = new RespValue[count];
        var cursor = start;
        for (var i = 0; i < items.Length; i++)
        {
            if (!TryRead(data, ref cursor, out var item))
            {
                return false;
            }

            items[i] = item!;
        }

        value = RespValue.Array(items);
        position = cursor;
        return true;
    }

    private static bool TryReadLine(ReadOnlySpan<byte> data, int start, out ReadOnlySpan<byte> line, out int next)
    {
        line = default;
        next = 0;
        if (start > data.Length)
        {
            return false;
        }

        var cr = data[start..].IndexOf((byte)'\r');
        if (cr < 0 || start + cr + 1 >= data.Length)
        {
            return false;
        }

        if (data[start + cr + 1] != (byte)'\n')
        {
            throw new RedisProtocolException("CR not followed by LF");
        }

        line = data.Slice(start, cr);
        next = start + cr + 2;
        return true;
    }

    private static long ParseInteger(ReadOnlySpan<byte> line)
    {
        if (!Utf8Parser.TryParse(line, out long value, out var used) || used != line.Length)
        {
            throw new RedisProtocolException($"invalid integer '{Encoding.UTF8.GetString(line)}'");
        }

        return value;
    }
}
