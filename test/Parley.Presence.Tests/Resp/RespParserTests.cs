using System.Buffers;
using System.Text;
using Parley.Presence.Redis.Resp;
using Xunit;

namespace Parley.Presence.Tests.Resp;

/// <summary>RESP2 encoding and decoding on raw bytes, including replies split at every possible byte.</summary>
[Trait("Tier", "Presence")]
public sealed class RespParserTests
{
    private static RespValue Parse(string wire)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        Assert.True(RespParser.TryParse(bytes, out var value, out var consumed));
        Assert.Equal(bytes.Length, consumed);
        return value!;
    }

    [Fact]
    public void Parses_simple_strings_errors_and_integers()
    {
        Assert.Equal(RespType.SimpleString, Parse("+OK\r\n").Type);
        Assert.Equal("OK", Parse("+OK\r\n").AsString());
        Assert.Equal("", Parse("+\r\n").AsString());

        var error = Parse("-ERR unknown command 'FOO'\r\n");
        Assert.Equal(RespType.Error, error.Type);
        Assert.Equal("ERR unknown command 'FOO'", error.AsString());

        Assert.Equal(42, Parse(":42\r\n").AsInt64());
        Assert.Equal(-7, Parse(":-7\r\n").AsInt64());
        Assert.Equal(long.MaxValue, Parse(":9223372036854775807\r\n").AsInt64());
    }

    [Fact]
    public void Parses_bulk_strings_with_any_content()
    {
        Assert.Equal("hello", Parse("$5\r\nhello\r\n").AsString());
        Assert.Equal("", Parse("$0\r\n\r\n").AsString());
        Assert.Equal("a\r\nb", Parse("$4\r\na\r\nb\r\n").AsString());
        Assert.Equal("héllo ✓", Parse("$10\r\nhéllo ✓\r\n").AsString());
        Assert.Equal(RespType.BulkString, Parse("$1\r\nx\r\n").Type);
    }

    [Fact]
    public void Parses_both_resp2_nulls()
    {
        Assert.True(Parse("$-1\r\n").IsNull);
        Assert.True(Parse("*-1\r\n").IsNull);
        Assert.Null(Parse("$-1\r\n").AsString());
    }

    [Fact]
    public void Parses_nested_arrays_with_mixed_elements()
    {
        var value = Parse("*4\r\n:1\r\n*2\r\n$1\r\na\r\n*0\r\n$-1\r\n+done\r\n");

        var items = value.AsArray();
        Assert.Equal(4, items.Count);
        Assert.Equal(1, items[0].AsInt64());
        var inner = items[1].AsArray();
        Assert.Equal("a", inner[0].AsString());
        Assert.Empty(inner[1].AsArray());
        Assert.True(items[2].IsNull);
        Assert.Equal("done", items[3].AsString());
        Assert.Empty(Parse("*0\r\n").AsArray());
    }

    [Fact]
    public void Reports_incomplete_input_at_every_split_point_and_parses_it_once_complete()
    {
        var wire = Encoding.UTF8.GetBytes("*3\r\n$5\r\nhello\r\n:12\r\n*1\r\n+x\r\n");
        for (var cut = 0; cut < wire.Length; cut++)
        {
            Assert.False(RespParser.TryParse(wire.AsSpan(0, cut), out _, out var consumed), $"cut at {cut}");
            Assert.Equal(0, consumed);
        }

        Assert.True(RespParser.TryParse(wire, out var value, out var all));
        Assert.Equal(wire.Length, all);
        Assert.Equal("hello", value!.AsArray()[0].AsString());
    }

    [Fact]
    public void Parses_consecutive_replies_one_at_a_time()
    {
        var wire = Encoding.UTF8.GetBytes("+PONG\r\n:5\r\n$3\r\nabc\r\n");

        Assert.True(RespParser.TryParse(wire, out var first, out var used1));
        Assert.True(RespParser.TryParse(wire.AsSpan(used1), out var second, out var used2));
        Assert.True(RespParser.TryParse(wire.AsSpan(used1 + used2), out var third, out var used3));

        Assert.Equal(("PONG", 5L, "abc"), (first!.AsString(), second!.AsInt64(), third!.AsString()));
        Assert.Equal(wire.Length, used1 + used2 + used3);
    }

    [Theory]
    [InlineData("?what\r\n")]
    [InlineData(":12a\r\n")]
    [InlineData("$3\r\nabcd\r\n")]
    [InlineData("$-2\r\n")]
    [InlineData("*-5\r\n")]
    [InlineData("+OK\rX")]
    public void Rejects_malformed_input(string wire)
    {
        Assert.Throws<RedisProtocolException>(() => RespParser.TryParse(Encoding.UTF8.GetBytes(wire), out _, out _));
    }

    [Fact]
    public void Writes_commands_as_arrays_of_bulk_strings()
    {
        var buffer = new ArrayBufferWriter<byte>();

        RespWriter.WriteCommand(buffer, ["SET", "clé", ""]);

        Assert.Equal("*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$0\r\n\r\n", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }
}
