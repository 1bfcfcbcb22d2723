using System.Diagnostics;
using Parley.Presence.Redis.Resp;
using Parley.Testing;
using Xunit;

namespace Parley.Presence.Tests.Resp;

/// <summary>The RESP client while its server crashes, restarts empty or freezes: each test owns its server.</summary>
[Trait("Tier", "Presence")]
public sealed class RespClientOutageTests
{
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_killed_server_fails_calls_fast_and_a_restarted_one_serves_them_again()
    {
        await using var server = await RedisServer.StartAsync();
        // A long timeout, so only failing fast (not timing out) can pass the time bound below.
        await using var client = new RespClient(server.Endpoint, TimeSpan.FromSeconds(10));
        await client.ExecuteAsync(["SET", "k", "before"]);

        server.Kill();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++)
        {
            await Assert.ThrowsAsync<RedisConnectionException>(() => client.ExecuteAsync(["GET", "k"]));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"five calls took {watch.ElapsedMilliseconds} ms while redis was down");

        await server.RestartAsync();
        await Eventually.TrueAsync(async () => (await client.ExecuteAsync(["PING"])).AsString() == "PONG", RecoveryLimit, "PING succeeds after restart");
        Assert.True((await client.ExecuteAsync(["GET", "k"])).IsNull, "the restarted server is empty");
    }

    [Fact]
    public async Task A_frozen_server_times_commands_out_and_a_thawed_one_answers_again()
    {
        await using var server = await RedisServer.StartAsync();
        await using var client = new RespClient(server.Endpoint, TimeSpan.FromMilliseconds(300));
        await client.ExecuteAsync(["SET", "k", "kept"]);

        server.Pause();
        try
        {
            var watch = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<RedisTimeoutException>(() => client.ExecuteAsync(["GET", "k"]));
            Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(1500));
            Assert.Contains("did not answer GET", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            server.Resume();
        }

        await Eventually.TrueAsync(async () => (await client.ExecuteAsync(["GET", "k"])).AsString() == "kept", RecoveryLimit, "GET succeeds after resume");
    }

    [Fact]
    public async Task Scripts_run_again_after_the_server_restarted_empty()
    {
        await using var server = await RedisServer.StartAsync();
        await using var client = new RespClient(server.Endpoint, TimeSpan.FromSeconds(2));
        var script = new RedisScript("incr", "return redis.call('INCR', KEYS[1])");
        Assert.Equal(1, (await client.EvalAsync(script, ["n"], [])).AsInt64());

        await server.RestartAsync();

        await Eventually.TrueAsync(async () => (await client.EvalAsync(script, ["n"], [])).AsInt64() == 1, RecoveryLimit, "the script runs on the new server");
    }

    [Fact]
    public async Task An_unreachable_endpoint_fails_every_call_with_a_connection_error()
    {
        var client = new RespClient("127.0.0.1:" + TestPorts.GetFree(), TimeSpan.FromSeconds(10));
        await using (client)
        {
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 3; i++)
            {
                await Assert.ThrowsAsync<RedisConnectionException>(() => client.ExecuteAsync(["PING"]));
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"three refused calls took {watch.ElapsedMilliseconds} ms");
        }
    }
}
