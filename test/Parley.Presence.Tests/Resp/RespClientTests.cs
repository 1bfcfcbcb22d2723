using Parley.Presence.Redis.Resp;
using Parley.Testing;
using Xunit;

namespace Parley.Presence.Tests.Resp;

/// <summary>The RESP client against a real redis-server: every reply type, pipelining, scripts, errors.</summary>
[Trait("Tier", "Presence")]
public sealed class RespClientTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private readonly string _key = $"resp:{Guid.NewGuid():N}:";
    private RespClient _client = null!;

    public Task InitializeAsync()
    {
        _client = new RespClient(redis.Server.Endpoint);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    [Fact]
    public async Task Reads_every_reply_type_from_a_real_server()
    {
        var pong = await _client.ExecuteAsync(["PING"]);
        Assert.Equal((RespType.SimpleString, "PONG"), (pong.Type, pong.AsString()));

        Assert.Equal("OK", (await _client.ExecuteAsync(["SET", _key + "s", "värde ✓"])).AsString());
        var bulk = await _client.ExecuteAsync(["GET", _key + "s"]);
        Assert.Equal((RespType.BulkString, "värde ✓"), (bulk.Type, bulk.AsString()));

        var count = await _client.ExecuteAsync(["INCRBY", _key + "n", "41"]);
        Assert.Equal((RespType.Integer, 41L), (count.Type, count.AsInt64()));

        Assert.True((await _client.ExecuteAsync(["GET", _key + "missing"])).IsNull);
        Assert.Empty((await _client.ExecuteAsync(["LRANGE", _key + "missing", "0", "-1"])).AsArray());

        var nested = await _client.ExecuteAsync(["EVAL", "return {1, {'a', {2}}, 'b'}", "0"]);
        var items = nested.AsArray();
        Assert.Equal(1, items[0].AsInt64());
        Assert.Equal("a", items[1].AsArray()[0].AsString());
        Assert.Equal(2, items[1].AsArray()[1].AsArray()[0].AsInt64());
        Assert.Equal("b", items[2].AsString());
    }

    [Fact]
    public async Task Error_replies_throw_with_the_servers_message_and_leave_the_connection_usable()
    {
        var unknown = await Assert.ThrowsAsync<RedisServerException>(() => _client.ExecuteAsync(["NOSUCHCOMMAND"]));
        Assert.Equal("ERR", unknown.Prefix);

        await _client.ExecuteAsync(["SET", _key + "str", "x"]);
        var wrongType = await Assert.ThrowsAsync<RedisServerException>(() => _client.ExecuteAsync(["LPUSH", _key + "str", "y"]));
        Assert.Equal("WRONGTYPE", wrongType.Prefix);

        Assert.Equal("PONG", (await _client.ExecuteAsync(["PING"])).AsString());
    }

    [Fact]
    public async Task Round_trips_a_value_larger_than_the_buffers()
    {
        var big = string.Concat(Enumerable.Range(0, 200_000).Select(i => (char)('a' + (i % 26)))) + "✓";

        await _client.ExecuteAsync(["SET", _key + "big", big]);

        Assert.Equal(big, (await _client.ExecuteAsync(["GET", _key + "big"])).AsString());
    }

    [Fact]
    public async Task Scripts_are_reloaded_after_redis_forgot_them()
    {
        var script = new RedisScript("echo-key", "return {KEYS[1], ARGV[1]}");

        var first = await _client.EvalAsync(script, [_key + "k"], ["a"]);
        Assert.Equal([_key + "k", "a"], first.AsArray().Select(v => v.AsString()));
        Assert.NotNull(script.Sha);

        await _client.ExecuteAsync(["SCRIPT", "FLUSH"]);
        var again = await _client.EvalAsync(script, [_key + "k"], ["b"]);

        Assert.Equal("b", again.AsArray()[1].AsString());
        Assert.Equal(1, (await _client.ExecuteAsync(["SCRIPT", "EXISTS", script.Sha!])).AsArray()[0].AsInt64());
    }
}
