using System.Globalization;
using System.Text;

namespace Parley.Testing.Cluster;

/// <summary>Settings of a <see cref="ParleyCluster"/>.</summary>
public sealed class ParleyClusterOptions
{
    /// <summary>How many Parley nodes run behind nginx.</summary>
    public int Nodes { get; init; } = 3;

    /// <summary>
    /// <c>Parley:*</c> settings (without the prefix) for every node, over the fast test defaults: PasswordIterations
    /// 1000, RegistrationsPerAddress 0 (no limit), PresenceHeartbeatMs 300, PresenceTtlMs 2000, PresenceOfflineGraceMs 0 (offline announced at once),
    /// HeadCheckIntervalMs 1000, DrainSeconds 2.
    /// </summary>
    public IDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Per-node overrides, asked once per node (1-based index) after the backends started and before any node does:
    /// e.g. a <see cref="TcpFaultProxy"/> in front of one backend for one node, or a faked clock. Null: none.
    /// </summary>
    public Func<ParleyCluster, int, NodeOverrides?>? ConfigureNode { get; init; }
}

/// <summary>Settings (<c>Parley:*</c> without the prefix) and environment variables for one node only.</summary>
public sealed record NodeOverrides(IReadOnlyDictionary<string, string> Settings, IReadOnlyDictionary<string, string> Environment);

/// <summary>
/// A real Parley cluster on loopback: one PostgreSQL database (a private server, so it can be stopped), the shared
/// RabbitMQ broker of this test process (<see cref="RabbitMqServer.Shared"/>: it takes ~18 s to boot), a private
/// Redis, 2–3 Parley node processes with one JWT key, and nginx in front, configured from <c>deploy/nginx</c>.
/// Every wait has a timeout; a missing dependency throws.
/// </summary>
public sealed class ParleyCluster : IAsyncDisposable
{
    private readonly List<ClusterNode> _nodes = [];

    private ParleyCluster(string name, PostgresServer postgres, RabbitMqServer rabbitMq, RedisServer redis, string jwtKey)
    {
        Name = name;
        Postgres = postgres;
        RabbitMq = rabbitMq;
        Redis = redis;
        JwtKey = jwtKey;
    }

    /// <summary>A short random name; node ids and Redis keys start with it.</summary>
    public string Name { get; }

    /// <summary>The PostgreSQL server (private to this cluster).</summary>
    public PostgresServer Postgres { get; }

    /// <summary>The RabbitMQ broker (shared by this test process; stopping it affects every cluster of the process).</summary>
    public RabbitMqServer RabbitMq { get; }

    /// <summary>The nodes' Npgsql connection string (set before the nodes start).</summary>
    public string Database { get; private set; } = "";

    /// <summary>The Redis server (private to this cluster).</summary>
    public RedisServer Redis { get; }

    /// <summary>nginx in front of the nodes.</summary>
    public NginxServer Nginx { get; private set; } = null!;

    /// <summary>The JWT signing key every node shares.</summary>
    public string JwtKey { get; }

    /// <summary>The nodes, in start order.</summary>
    public IReadOnlyList<ClusterNode> Nodes => _nodes;

    /// <summary>The address clients use: nginx.</summary>
    public Uri BaseUri => Nginx.BaseUri;

    /// <summary>The WebSocket endpoint through nginx.</summary>
    public Uri WsUri => Nginx.WsUri;

    /// <summary>A REST client through nginx.</summary>
    public ApiClient Api { get; private set; } = null!;

    /// <summary>Starts every server and node; throws (after cleaning up) when any of them does not come up.</summary>
    public static async Task<ParleyCluster> StartAsync(ParleyClusterOptions? options = null)
    {
        options ??= new ParleyClusterOptions();
        if (options.Nodes is < 1 or > 9)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "a test cluster has 1 to 9 nodes");
        }

        var name = "c" + Guid.NewGuid().ToString("N")[..7];
        var rabbit = RabbitMqServer.Shared;
        var postgresTask = PostgresServer.StartAsync();
        var redisTask = RedisServer.StartAsync();
        PostgresServer? postgres = null;
        RedisServer? redis = null;
        try
        {
            postgres = await postgresTask;
            redis = await redisTask;
        }
        catch
        {
            if (postgresTask.IsCompletedSuccessfully)
            {
                await postgresTask.Result.DisposeAsync();
            }

            if (redisTask.IsCompletedSuccessfully)
            {
                await redisTask.Result.DisposeAsync();
            }

            throw;
        }

        var cluster = new ParleyCluster(name, postgres, await rabbit, redis, Convert.ToBase64String(Guid.NewGuid().ToByteArray()) + Guid.NewGuid().ToString("N"));
        try
        {
            var database = await postgres.CreateDatabaseAsync("parley");
            cluster.Database = database;
            var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            {
                ["Store"] = "postgres",
                ["Postgres"] = database,
                ["Bus"] = "rabbitmq",
                ["RabbitMq"] = cluster.RabbitMq.Uri,
                ["Presence"] = "redis",
                ["Redis"] = redis.Endpoint,
                ["RedisKeyPrefix"] = $"parley:{name}:",
                ["PasswordIterations"] = "1000",
                ["RegistrationsPerAddress"] = "0",
                ["PresenceHeartbeatMs"] = "300",
                ["PresenceTtlMs"] = "2000",
                ["PresenceOfflineGraceMs"] = "0",
                ["HeadCheckIntervalMs"] = "1000",
                ["DrainSeconds"] = "2",

                // nginx runs on loopback: believe its X-Forwarded-For, so per-address limits count clients.
                ["TrustedProxies:0"] = "127.0.0.1",
            };
            foreach (var (k, v) in options.Settings)
            {
                settings[k] = v;
            }

            for (var i = 1; i <= options.Nodes; i++)
            {
                var id = $"{name}-n{i.ToString(CultureInfo.InvariantCulture)}";
                var port = TestPorts.GetFree();
                var overrides = options.ConfigureNode?.Invoke(cluster, i);
                var nodeSettings = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase);
                foreach (var (k, v) in overrides?.Settings ?? new Dictionary<string, string>())
                {
                    nodeSettings[k] = v;
                }

                var args = new List<string> { "--urls", $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", $"--Parley:NodeId={id}" };
                args.AddRange(nodeSettings.Select(kv => $"--Parley:{kv.Key}={kv.Value}"));
                args.Add("--Logging:LogLevel:Default=Information");
                args.Add("--Logging:LogLevel:Microsoft.AspNetCore=Warning");

                // The key goes through the environment, as a deployment would pass it.
                var env = new Dictionary<string, string> { ["Parley__JwtKey"] = cluster.JwtKey, ["DOTNET_NOLOGO"] = "1" };
                foreach (var (k, v) in overrides?.Environment ?? new Dictionary<string, string>())
                {
                    env[k] = v;
                }

                cluster._nodes.Add(new ClusterNode(id, port, args, env));
            }

            // The first node creates the schema alone; the others then start together. (Concurrent migrations are safe,
            // but on a busy 2-core machine three at once can outlast the store's 3 s connect timeout.)
            await cluster._nodes[0].StartAsync();
            await Task.WhenAll(cluster._nodes.Skip(1).Select(n => n.StartAsync()));
            cluster.Nginx = await NginxServer.StartAsync(cluster._nodes.Select(n => $"127.0.0.1:{n.Port.ToString(CultureInfo.InvariantCulture)}").ToList());
            cluster.Api = new ApiClient(cluster.BaseUri);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The node with id <paramref name="id"/>.</summary>
    public ClusterNode Node(string id) => _nodes.Single(n => n.Id == id);

    /// <summary>
    /// Every binding from Parley's exchange, by destination queue, read from the broker with <c>rabbitmqctl
    /// list_bindings</c> (one call: each costs an Erlang VM start, about a second).
    /// </summary>
    public async Task<Bindings> BindingsAsync()
    {
        var output = await RabbitMq.RabbitmqctlAsync("list_bindings", "-s", "source_name", "destination_name", "routing_key");
        var byQueue = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var cells = line.Split('\t');
            if (cells.Length == 3 && cells[0] == "parley")
            {
                if (!byQueue.TryGetValue(cells[1], out var keys))
                {
                    byQueue[cells[1]] = keys = new HashSet<string>(StringComparer.Ordinal);
                }

                keys.Add(cells[2].Trim());
            }
        }

        return new Bindings(byQueue);
    }

    /// <summary>Waits until the broker's bindings satisfy <paramref name="condition"/>; returns them.</summary>
    public async Task<Bindings> WaitForBindingsAsync(Func<Bindings, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var bindings = await BindingsAsync();
            if (condition(bindings))
            {
                return bindings;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the broker's bindings never showed {what} within {timeout.TotalSeconds} s; they are:\n{bindings}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Makes sure every backend and node runs again after a fault test: starts a stopped broker, Redis or PostgreSQL,
    /// thaws frozen servers and nodes, restarts dead ones, and waits until every node is ready.
    /// </summary>
    public async Task HealAsync()
    {
        if (!RabbitMq.IsRunning)
        {
            await RabbitMq.StartAgainAsync();
        }

        if (!Redis.IsRunning)
        {
            await Redis.RestartAsync();
        }
        else
        {
            Redis.Resume();
        }

        if (!Postgres.IsRunning)
        {
            await Postgres.RestartAsync();
        }
        else
        {
            Postgres.Resume();
        }

        await Task.WhenAll(_nodes.Select(n => n.EnsureRunningAsync()));
        await Task.WhenAll(_nodes.Select(n => n.WaitReadyzAsync(System.Net.HttpStatusCode.OK, TimeSpan.FromSeconds(30))));
    }

    /// <summary>Every node's latest log lines and nginx's error log: attach to assertion messages.</summary>
    public string Diagnostics(int lines = 25)
    {
        var text = new StringBuilder();
        foreach (var node in _nodes)
        {
            text.AppendLine(node.LogTail(lines));
        }

        if (Nginx is not null)
        {
            text.AppendLine("--- nginx error.log ---").AppendLine(Nginx.ErrorLog);
        }

        return text.ToString();
    }

    /// <summary>Stops nginx, the nodes, Redis and PostgreSQL (in reverse start order); the shared broker stays.</summary>
    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        if (Nginx is not null)
        {
            await Nginx.DisposeAsync();
        }

        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}

/// <summary>A snapshot of the routing keys bound to each node's queue.</summary>
public sealed class Bindings(IReadOnlyDictionary<string, HashSet<string>> byQueue)
{
    /// <summary>The routing keys bound to <paramref name="node"/>'s queue (empty when it has none or no queue).</summary>
    public IReadOnlySet<string> Of(ClusterNode node) => byQueue.TryGetValue(node.QueueName, out var keys) ? keys : new HashSet<string>();

    /// <summary>True when <paramref name="node"/>'s queue is bound to <paramref name="routingKey"/>.</summary>
    public bool Has(ClusterNode node, string routingKey) => Of(node).Contains(routingKey);

    /// <summary>The queues bound to <paramref name="routingKey"/>.</summary>
    public IReadOnlyList<string> QueuesOf(string routingKey) => byQueue.Where(kv => kv.Value.Contains(routingKey)).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();

    /// <inheritdoc />
    public override string ToString() => string.Join("\n", byQueue.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {string.Join(", ", kv.Value.Order(StringComparer.Ordinal))}"));
}
