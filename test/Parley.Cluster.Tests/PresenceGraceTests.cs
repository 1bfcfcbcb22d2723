using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Cluster.Tests;

/// <summary>
/// The presence grace across nodes, on real Redis and RabbitMQ: a user whose connection dropped on one node and who is
/// back on another within the grace was online all along, so nobody hears "offline" and "online" again; one who stays
/// away goes offline once, when the grace on the node that held them ends.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class PresenceGraceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_user_back_on_another_node_within_the_grace_is_never_announced_offline_and_goes_offline_once_after_leaving()
    {
        const int graceMs = 3_000;
        await using var cluster = await ParleyCluster.StartAsync(new ParleyClusterOptions
        {
            Nodes = 2,
            Settings = new Dictionary<string, string> { ["PresenceOfflineGraceMs"] = graceMs.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        });
        var alice = await cluster.Api.RegisterAsync("alice");
        var bob = await cluster.Api.RegisterAsync("bob");
        await cluster.Api.OpenDmAsync(alice, bob.Username);
        await using var aliceWs = await WsTestClient.ConnectAndHelloAsync(cluster.Nodes[0].WsUri, alice.Token);
        var bobOnA = await WsTestClient.ConnectAndHelloAsync(cluster.Nodes[0].WsUri, bob.Token);
        await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == bob.UserId && f.Str("status") == "online", Wait);

        // Bob's connection to the first node drops without a close frame; he is back on the second node at once.
        bobOnA.Abort();
        await bobOnA.DisposeAsync();
        var bobOnB = await WsTestClient.ConnectAndHelloAsync(cluster.Nodes[1].WsUri, bob.Token);

        // The first node's grace for the dropped connection ends while the second still holds Bob: nothing to tell.
        Assert.True(await aliceWs.NoneWithinAsync(f => f.Op() == "presence" && f.Str("userId") == bob.UserId, TimeSpan.FromMilliseconds(graceMs + 2_000)));

        // Now he drops for good: one "offline", and not before the grace on the second node ended.
        var dropped = System.Diagnostics.Stopwatch.StartNew();
        bobOnB.Abort();
        await bobOnB.DisposeAsync();
        await aliceWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == bob.UserId && f.Str("status") == "offline", Wait);
        Assert.True(dropped.ElapsedMilliseconds >= graceMs - 100, $"offline {dropped.ElapsedMilliseconds} ms after the drop, within the grace");
        Assert.Single(aliceWs.Frames("presence"), f => f.Str("userId") == bob.UserId && f.Str("status") == "offline");
        Assert.Single(aliceWs.Frames("presence"), f => f.Str("userId") == bob.UserId && f.Str("status") == "online");
    }
}
