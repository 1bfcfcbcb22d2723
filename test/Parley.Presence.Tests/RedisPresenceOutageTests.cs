using System.Diagnostics;
using Parley.Presence.Redis;
using Parley.Testing;
using Xunit;

namespace Parley.Presence.Tests;

/// <summary>Redis presence while Redis crashes, restarts empty or freezes. Each test owns its redis-server.</summary>
[Trait("Tier", "Presence")]
public sealed class RedisPresenceOutageTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(5);
    private RedisServer _server = null!;
    private PresenceCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _cluster = new PresenceCluster(_server.Endpoint);
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task After_redis_restarts_empty_each_node_reasserts_its_connections_within_a_few_heartbeats()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        var (b, nodeB) = await _cluster.StartNodeAsync("b");
        await nodeA.ConnectAsync(a, "a1", "alice");
        await nodeA.ConnectAsync(a, "a2", "alice");
        await nodeA.ConnectAsync(a, "a3", "bob");
        await nodeB.ConnectAsync(b, "b1", "bob");
        await nodeB.ConnectAsync(b, "b2", "carol");

        await _server.RestartAsync();
        var watch = Stopwatch.StartNew();
        await Eventually.TrueAsync(
            async () => (await a.StatsAsync(None)) is { OnlineUsers: 3, Connections: 5, Nodes.Count: 2 },
            Recovery,
            "both nodes re-asserted all five connections");

        Assert.True(watch.Elapsed < PresenceCluster.Heartbeat * 15, $"took {watch.ElapsedMilliseconds} ms");
        Assert.Equal([new NodeStats("a", 3), new NodeStats("b", 2)], (await b.StatsAsync(None)).Nodes);
        Assert.Equal(3, (await b.OnlineAsync(["alice", "bob", "carol"], None)).Count);
        Assert.False(await nodeA.DisconnectAsync(a, "a1", "alice"));
        Assert.True(await nodeA.DisconnectAsync(a, "a2", "alice"));
        Assert.Empty(nodeA.Reports);
        Assert.Empty(nodeB.Reports);
    }

    [Fact]
    public async Task While_redis_is_down_every_call_fails_fast_and_the_node_recovers_when_it_returns()
    {
        // A long command timeout, so only failing fast (not timing out) can pass the time bound below.
        var (a, nodeA) = await _cluster.StartNodeAsync("a", commandTimeout: TimeSpan.FromSeconds(10));
        await nodeA.ConnectAsync(a, "a1", "alice");
        await nodeA.ConnectAsync(a, "a2", "bob");

        _server.Kill();
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAsync<PresenceUnavailableException>(() => nodeA.ConnectAsync(a, "a3", "carol"));
        await Assert.ThrowsAsync<PresenceUnavailableException>(() => nodeA.DisconnectAsync(a, "a2", "bob"));
        await Assert.ThrowsAsync<PresenceUnavailableException>(() => a.OnlineAsync(["alice"], None));
        await Assert.ThrowsAsync<PresenceUnavailableException>(() => a.StatsAsync(None));
        Assert.False(await a.PingAsync(None));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"five calls took {watch.ElapsedMilliseconds} ms");

        await _server.RestartAsync();

        // The node still holds alice and carol; bob's disconnect never reached Redis and is now settled.
        await Eventually.TrueAsync(
            async () => (await a.OnlineAsync(["alice", "bob", "carol"], None)).SetEquals(["alice", "carol"]),
            Recovery,
            "presence re-asserted from the node's connections");
        Assert.Equal(["bob"], await nodeA.NextReportAsync(Recovery));
        Assert.True(await a.PingAsync(None));
        Assert.True(await nodeA.ConnectAsync(a, "a4", "dave"));
    }

    [Fact]
    public async Task While_redis_is_frozen_every_call_throws_within_the_command_timeout()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a", ttl: TimeSpan.FromSeconds(30));
        await nodeA.ConnectAsync(a, "a1", "alice");
        await nodeA.ConnectAsync(a, "a2", "bob");

        _server.Pause();
        Task<Exception?[]> calls;
        try
        {
            calls = Task.WhenAll(
                Timed(() => nodeA.ConnectAsync(a, "a3", "carol")),
                Timed(() => nodeA.DisconnectAsync(a, "a2", "bob")),
                Timed(() => a.OnlineAsync(["alice"], None)),
                Timed(() => a.StatsAsync(None)));
            await Task.WhenAny(calls, Task.Delay(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            _server.Resume();
        }

        Assert.True(calls.IsCompleted, "a call hung while redis was frozen");
        Assert.All(await calls, e => Assert.IsType<PresenceUnavailableException>(e));

        // Redis kept its data: the failed disconnect leaves a stale entry that the next heartbeat removes, once.
        await Eventually.TrueAsync(
            async () => (await a.OnlineAsync(["alice", "bob", "carol"], None)).SetEquals(["alice", "carol"]),
            Recovery,
            "the node's entries match its connections again");
        Assert.Equal(["bob"], await nodeA.NextReportAsync(Recovery));
        await Task.Delay(PresenceCluster.Heartbeat * 3);
        Assert.Single(nodeA.Reports);
    }

    [Fact]
    public async Task Start_succeeds_while_redis_is_down_and_the_node_registers_when_it_returns()
    {
        _server.Kill();
        var watch = Stopwatch.StartNew();
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"start took {watch.ElapsedMilliseconds} ms");
        await Assert.ThrowsAsync<PresenceUnavailableException>(() => nodeA.ConnectAsync(a, "a1", "alice"));

        await _server.RestartAsync();

        await Eventually.TrueAsync(
            async () => (await a.StatsAsync(None)).Nodes.SequenceEqual([new NodeStats("a", 1)]),
            Recovery,
            "the node registered with its connection");
        Assert.Equal(["alice"], await a.OnlineAsync(["alice"], None));
    }

    private static async Task<Exception?> Timed(Func<Task> call)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            await call();
            return null;
        }
        catch (Exception e)
        {
            // 2 s command timeout, plus scheduling slack on a busy machine.
            return watch.Elapsed < TimeSpan.FromSeconds(3) ? e : new TimeoutException($"took {watch.ElapsedMilliseconds} ms", e);
        }
    }
}
