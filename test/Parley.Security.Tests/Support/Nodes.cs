using System.Security.Cryptography;
using Parley.Testing;

namespace Parley.Security.Tests.Support;

/// <summary>Two nodes a test can spread users over; they are one and the same node in the single-node topology.</summary>
public interface INodePair
{
    /// <summary>The first node.</summary>
    SecurityNode A { get; }

    /// <summary>The second node (the first again on a single node).</summary>
    SecurityNode B { get; }
}

/// <summary>One embedded node (SQLite, in-memory bus and presence), seen as both A and B.</summary>
public sealed class SingleNode : INodePair, IAsyncLifetime
{
    public SecurityNode A { get; private set; } = null!;

    public SecurityNode B => A;

    public async Task InitializeAsync() => A = await SecurityNode.StartAsync();

    public async Task DisposeAsync() => await A.DisposeAsync();
}

/// <summary>
/// Two in-process nodes sharing real PostgreSQL, RabbitMQ and Redis: events between users on different nodes cross
/// the real bus, and each node answers from the shared store.
/// </summary>
public sealed class TwoNodes : INodePair, IAsyncLifetime
{
    private RedisServer? _redis;

    public SecurityNode A { get; private set; } = null!;

    public SecurityNode B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var pg = PostgresServer.Shared;
        var rabbit = RabbitMqServer.Shared;
        var redis = RedisServer.StartAsync();
        await Task.WhenAll(pg, rabbit, redis);
        _redis = await redis;
        var run = Guid.NewGuid().ToString("N")[..12];
        var connection = await (await pg).CreateSchemaAsync("postgres", "sec_" + run);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(48));
        var rabbitUri = (await rabbit).Uri;
        Dictionary<string, string?> Settings(string node) => new()
        {
            ["NodeId"] = $"sec-{node}-{run}",
            ["Store"] = "postgres",
            ["Postgres"] = connection,
            ["Bus"] = "rabbitmq",
            ["RabbitMq"] = rabbitUri,
            ["Presence"] = "redis",
            ["Redis"] = _redis.Endpoint,
            ["RedisKeyPrefix"] = $"sec-{run}:",
            ["JwtKey"] = key,
        };

        A = await SecurityNode.StartAsync(Settings("a"));
        B = await SecurityNode.StartAsync(Settings("b"));
    }

    public async Task DisposeAsync()
    {
        if (B is not null)
        {
            await B.DisposeAsync();
        }

        if (A is not null)
        {
            await A.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}
