using Parley.Presence.Redis.Resp;
using Parley.Testing;
using Xunit;

namespace Parley.Presence.Tests.Resp;

/// <summary>
/// Runs alone, after the parallel tests: these flood the machine, which would starve the heartbeats that the
/// timing-sensitive presence tests rely on.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RespLoadCollection
{
    public const string Name = "RESP load";
}

/// <summary>The RESP client under many concurrent commands, with the server up and while it dies.</summary>
[Trait("Tier", "Presence")]
[Collection(RespLoadCollection.Name)]
public sealed class RespClientLoadTests
{
    [Fact]
    public async Task Ten_thousand_concurrent_commands_share_one_connection_and_each_gets_its_own_reply()
    {
        await using var server = await RedisServer.StartAsync();
        await using var client = new RespClient(server.Endpoint);
        var connectionId = (await client.ExecuteAsync(["CLIENT", "ID"])).AsInt64();

        var replies = await Task.WhenAll(Enumerable.Range(0, 10_000).Select(i => Task.Run(async () =>
            i % 100 == 0
                ? (i, Reply: (await client.ExecuteAsync(["CLIENT", "ID"])).AsString())
                : (i, Reply: (await client.ExecuteAsync(["ECHO", "v" + i])).AsString()))));

        foreach (var (i, reply) in replies)
        {
            Assert.Equal(i % 100 == 0 ? connectionId.ToString(System.Globalization.CultureInfo.InvariantCulture) : "v" + i, reply);
        }
    }

    [Fact]
    public async Task Commands_in_flight_when_the_server_dies_all_complete_with_a_reply_or_an_error()
    {
        await using var server = await RedisServer.StartAsync();
        await using var client = new RespClient(server.Endpoint, TimeSpan.FromSeconds(2));
        await client.ExecuteAsync(["PING"]);

        var calls = Enumerable.Range(0, 5_000).Select(i => Task.Run(async () =>
        {
            try
            {
                return (await client.ExecuteAsync(["ECHO", "v" + i])).AsString() == "v" + i;
            }
            catch (RedisException)
            {
                return true;
            }
        })).ToArray();
        server.Kill();

        var all = Task.WhenAll(calls);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))));
        Assert.All(await all, Assert.True);
    }
}
