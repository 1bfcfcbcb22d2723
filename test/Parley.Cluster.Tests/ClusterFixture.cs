using System.Net;
using System.Text.Json;
using Parley.Testing;
using Parley.Testing.Cluster;

// Fault tests stop shared servers (the broker, Redis, PostgreSQL, nodes): no two tests may overlap.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Parley.Cluster.Tests;

/// <summary>One 3-node cluster shared by every test class of the <see cref="ClusterCollection"/>; fault tests heal it afterwards.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    /// <summary>The cluster.</summary>
    public ParleyCluster Cluster { get; private set; } = null!;

    /// <summary>
    /// The node (0-based) that commits with one PostgreSQL writer (<c>Parley:PostgresWriters</c>) where the others use
    /// the default four, so the tests cover both: one loop for every conversation, and conversations committing at once.
    /// </summary>
    public const int OneWriterNode = 2;

    /// <summary>REST through nginx.</summary>
    public ApiClient Api => Cluster.Api;

    /// <summary>The nodes.</summary>
    public IReadOnlyList<ClusterNode> Nodes => Cluster.Nodes;

    public async Task InitializeAsync() => Cluster = await ParleyCluster.StartAsync(new ParleyClusterOptions
    {
        ConfigureNode = (_, index) => index == OneWriterNode + 1
            ? new NodeOverrides(new Dictionary<string, string> { ["PostgresWriters"] = "1" }, new Dictionary<string, string>())
            : null,
    });

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>Registers <paramref name="count"/> users through nginx.</summary>
    public async Task<TestUser[]> UsersAsync(int count, string prefix = "u")
    {
        var users = new TestUser[count];
        for (var i = 0; i < count; i++)
        {
            users[i] = await Api.RegisterAsync(prefix + i);
        }

        return users;
    }

    /// <summary>A public room owned by the first user and joined by the others; returns its id.</summary>
    public async Task<string> RoomAsync(params TestUser[] members)
    {
        var room = await Api.CreateRoomAsync(members[0], "room");
        foreach (var user in members.Skip(1))
        {
            var answer = await Api.JoinAsync(user, room);
            if (answer.Status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"join failed: {answer.Status} {answer.Body}");
            }
        }

        return room;
    }

    /// <summary>Connects a raw protocol client straight to <paramref name="node"/> (bypassing nginx) and waits for synced.</summary>
    public static Task<WsTestClient> ConnectAsync(TestUser user, ClusterNode node, object? resume = null) =>
        WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token, resume);
}

/// <summary>The test classes that share one <see cref="ClusterFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>Reading what a raw client received.</summary>
public static class Received
{
    /// <summary>The seqs of the <c>msg</c> frames of <paramref name="conv"/> this client got, in arrival order.</summary>
    public static List<long> Seqs(this WsTestClient client, string conv) =>
        client.All.Where(f => f.Op() == "msg" && f.Str("conv") == conv).Select(f => f.Long("seq")).ToList();

    /// <summary>The <c>msg</c> frames of <paramref name="conv"/>, in arrival order.</summary>
    public static List<JsonElement> Messages(this WsTestClient client, string conv) =>
        client.All.Where(f => f.Op() == "msg" && f.Str("conv") == conv).ToList();

    /// <summary>The frames with op <paramref name="op"/>.</summary>
    public static List<JsonElement> Frames(this WsTestClient client, string op) => client.All.Where(f => f.Op() == op).ToList();

    /// <summary>True when <paramref name="seqs"/> is exactly 1..<paramref name="last"/>.</summary>
    public static bool IsExactly1To(this IReadOnlyList<long> seqs, long last) => seqs.SequenceEqual(Enumerable.Range(1, (int)last).Select(i => (long)i));
}
