using System.Diagnostics;
using Parley.Testing;
using Xunit;

namespace Parley.Presence.Tests;

/// <summary>Redis presence across several nodes: cluster-wide answers, node death, zombies. Redis stays up here.</summary>
[Trait("Tier", "Presence")]
public sealed class RedisPresenceClusterTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;
    private PresenceCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new PresenceCluster(redis.Server.Endpoint);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task First_and_last_answers_span_every_node()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        var (b, nodeB) = await _cluster.StartNodeAsync("b");

        Assert.True(await nodeA.ConnectAsync(a, "a1", "alice"));
        Assert.False(await nodeB.ConnectAsync(b, "b1", "alice"));
        Assert.False(await nodeA.DisconnectAsync(a, "a1", "alice"));
        Assert.Equal(["alice"], await a.OnlineAsync(["alice"], None));
        Assert.True(await nodeB.DisconnectAsync(b, "b1", "alice"));
        Assert.Empty(await a.OnlineAsync(["alice"], None));
    }

    [Fact]
    public async Task Concurrent_first_connects_on_different_nodes_yield_exactly_one_first()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => _cluster.StartNodeAsync("n" + i)));

        var answers = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() =>
        {
            var (store, node) = nodes[i % nodes.Length];
            return node.ConnectAsync(store, "c" + i, "alice");
        })));

        Assert.Equal(1, answers.Count(first => first));
    }

    [Fact]
    public async Task Stats_list_every_live_node_with_its_connections()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        var (b, nodeB) = await _cluster.StartNodeAsync("b");
        await nodeA.ConnectAsync(a, "a1", "alice");
        await nodeA.ConnectAsync(a, "a2", "bob");
        await nodeB.ConnectAsync(b, "b1", "alice");

        var stats = await b.StatsAsync(None);

        Assert.Equal(2, stats.OnlineUsers);
        Assert.Equal(3, stats.Connections);
        Assert.Equal([new NodeStats("a", 2), new NodeStats("b", 1)], stats.Nodes);
    }

    [Fact]
    public async Task A_dead_nodes_users_go_offline_within_a_ttl_reported_once_by_one_survivor()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        var (b, nodeB) = await _cluster.StartNodeAsync("b");
        var (c, nodeC) = await _cluster.StartNodeAsync("c");
        await nodeB.ConnectAsync(b, "b1", "only-b");
        await nodeB.ConnectAsync(b, "b2", "only-b");
        await nodeB.ConnectAsync(b, "b3", "also-on-a");
        await nodeA.ConnectAsync(a, "a1", "also-on-a");
        await nodeB.ConnectAsync(b, "b4", "only-b-too");
        await nodeC.ConnectAsync(c, "c1", "on-c");

        var watch = Stopwatch.StartNew();
        b.PauseHeartbeat();
        await Eventually.TrueAsync(
            () => Task.FromResult(nodeA.Reports.Count + nodeC.Reports.Count > 0), TimeSpan.FromSeconds(5), "a survivor reports b's users");
        var detected = watch.Elapsed;
        await Task.Delay(PresenceCluster.Heartbeat * 5);

        Assert.True(detected < PresenceCluster.Ttl + (2 * PresenceCluster.Heartbeat) + TimeSpan.FromSeconds(1), $"took {detected.TotalMilliseconds:0} ms");
        var reported = nodeA.ReportedUsers.Concat(nodeC.ReportedUsers).Order().ToArray();
        Assert.Equal(["only-b", "only-b-too"], reported);
        Assert.Equal(1, nodeA.Reports.Count + nodeC.Reports.Count);
        Assert.Empty(nodeB.Reports);
        Assert.Equal(new HashSet<string> { "also-on-a", "on-c" }, (await a.OnlineAsync(["only-b", "only-b-too", "also-on-a", "on-c"], None)).ToHashSet());
        var stats = await c.StatsAsync(None);
        Assert.Equal([new NodeStats("a", 1), new NodeStats("c", 1)], stats.Nodes);
        Assert.Equal((2, 2), (stats.OnlineUsers, stats.Connections));
    }

    [Fact]
    public async Task A_node_that_shuts_down_is_swept_at_once_instead_of_after_its_ttl()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a", ttl: TimeSpan.FromSeconds(30));
        var (b, nodeB) = await _cluster.StartNodeAsync("b", ttl: TimeSpan.FromSeconds(30));
        await nodeB.ConnectAsync(b, "b1", "bob");

        var watch = Stopwatch.StartNew();
        await b.DisposeAsync();
        var report = await nodeA.NextReportAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(["bob"], report);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.ElapsedMilliseconds} ms with a 30 s TTL");
        Assert.Equal([new NodeStats("a", 0)], (await a.StatsAsync(None)).Nodes);
    }

    [Fact]
    public async Task A_swept_zombie_reasserts_only_the_connections_it_still_holds()
    {
        var (a, nodeA) = await _cluster.StartNodeAsync("a");
        var (b, nodeB) = await _cluster.StartNodeAsync("b");
        await nodeB.ConnectAsync(b, "b1", "kept");
        await nodeB.ConnectAsync(b, "b2", "lost");

        b.PauseHeartbeat();
        var report = await nodeA.NextReportAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(["kept", "lost"], report.Order());

        // While frozen, b's client for "lost" gave up; on waking b still holds only "kept".
        nodeB.DropLocally("b2");
        b.ResumeHeartbeat();

        await Eventually.TrueAsync(
            async () => (await a.OnlineAsync(["kept", "lost"], None)).SetEquals(["kept"]),
            TimeSpan.FromSeconds(3),
            "b re-asserts kept and not lost");
        Assert.Equal([new NodeStats("a", 0), new NodeStats("b", 1)], (await a.StatsAsync(None)).Nodes);
        Assert.Single(nodeA.Reports);
        Assert.Empty(nodeB.Reports);
        Assert.True(await nodeB.DisconnectAsync(b, "b1", "kept"));
    }

    [Fact]
    public async Task A_restarted_node_with_the_same_id_clears_what_its_previous_run_left()
    {
        var (old, oldNode) = await _cluster.StartNodeAsync("a", ttl: TimeSpan.FromSeconds(30));
        await oldNode.ConnectAsync(old, "a1", "alice");
        old.PauseHeartbeat();

        var (fresh, freshNode) = await _cluster.StartNodeAsync("a", ttl: TimeSpan.FromSeconds(30));

        Assert.Equal(["alice"], await freshNode.NextReportAsync(TimeSpan.FromSeconds(5)));
        Assert.Empty(await fresh.OnlineAsync(["alice"], None));
        Assert.Equal([new NodeStats("a", 0)], (await fresh.StatsAsync(None)).Nodes);
    }
}
