using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Parley.Testing;

namespace Parley.LoadTest;

/// <summary>A user of a target: Parley's registered account, or a peer's synthetic id.</summary>
public sealed record User(string UserId, string Username, string Token);

/// <summary>Server memory: managed heap after a forced collection (V8 heap + external for Node) and resident set.</summary>
public sealed record MemoryReading(long GcHeapBytes, long RssBytes, int Connections);

/// <summary>One node's own timing of one measure (<c>/debug/latency</c>), in microseconds.</summary>
public sealed record NodeTiming(long Count, double MeanUs, double P50Us, double P99Us)
{
    public static NodeTiming From(JsonElement e) =>
        new(e.GetProperty("count").GetInt64(), e.GetProperty("meanUs").GetDouble(), e.GetProperty("p50Us").GetDouble(), e.GetProperty("p99Us").GetDouble());
}

/// <summary>
/// Where one Parley node's acknowledged sends spent their time: the whole send (validated to committed), the wait for a
/// commit, the store's commit per batch, and the batch sizes (in messages).
/// </summary>
public sealed record NodeLatency(NodeTiming Send, NodeTiming CommitWait, NodeTiming Commit, NodeTiming BatchSize);

/// <summary>A chat server under test: its processes, users, rooms and direct destinations.</summary>
public abstract class Target : IAsyncDisposable
{
    protected static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    protected Target(Paths paths) => Paths = paths;

    protected Paths Paths { get; }

    /// <summary>parley, socketio or signalr.</summary>
    public abstract string Name { get; }

    /// <summary>What runs, for the report.</summary>
    public abstract string Description { get; }

    public abstract int NodeCount { get; }

    public abstract int NodePort(int node);

    /// <summary>The chat server processes (their CPU is the "server CPU").</summary>
    public abstract IReadOnlyList<int> ServerPids { get; }

    /// <summary>Broker, database and Redis processes (reported apart).</summary>
    public abstract IReadOnlyList<(int Pid, bool Tree)> BackendProcesses { get; }

    /// <summary>Starts the shared backends (once per run).</summary>
    public abstract Task StartBackendsAsync();

    /// <summary>(Re)starts fresh chat server processes, one scenario at a time.</summary>
    public abstract Task StartNodesAsync(string scenario);

    public abstract Task StopNodesAsync();

    /// <summary>Users <paramref name="from"/>..from+count of this run's pool (created on first use).</summary>
    public abstract Task<List<User>> UsersAsync(int from, int count);

    /// <summary>A room holding <paramref name="members"/> (the first owns it); returns the destination id.</summary>
    public abstract Task<string> RoomAsync(string name, IReadOnlyList<User> members);

    /// <summary>The destination <paramref name="from"/> sends to for a 1:1 message to <paramref name="to"/>.</summary>
    public abstract Task<string> DirectAsync(User from, User to);

    /// <summary>True when the destination of direct messages is a user id (peers) rather than a conversation (Parley).</summary>
    public abstract bool DirectToUser { get; }

    /// <summary>Stores a message while its members are away (Parley only: peers store nothing).</summary>
    public virtual Task PostAsync(User user, string room, string body) => Task.CompletedTask;

    /// <summary>A server's memory and connections; <paramref name="collect"/> false asks without forcing a collection
    /// (the heap figure then includes garbage: for the connection count only).</summary>
    public virtual async Task<MemoryReading> MemoryAsync(int node, bool collect = true)
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync($"http://127.0.0.1:{NodePort(node)}/debug/memory{(collect ? "" : "?collect=false")}"));
        var r = doc.RootElement;
        return new MemoryReading(r.GetProperty("gcHeapBytes").GetInt64(), ProcStats.RssBytes(ServerPids[node]), r.GetProperty("connections").GetInt32());
    }

    /// <summary>The node's own timing of acknowledged sends (Parley only: the peers acknowledge nothing); reset starts afresh.</summary>
    public virtual Task<NodeLatency?> NodeLatencyAsync(int node, bool reset) => Task.FromResult<NodeLatency?>(null);

    public abstract ValueTask DisposeAsync();

    protected static async Task ParallelAsync<T>(IEnumerable<T> items, int degree, Func<T, Task> body)
    {
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = degree }, async (item, _) => await body(item));
    }
}

/// <summary>Where the built servers and the peers live.</summary>
public sealed record Paths(string Repo, string Out)
{
    public string ParleyServerDll => Path.Combine(Repo, "src/Parley.Server/bin/Release/net10.0/Parley.Server.dll");

    public string SignalRPeerDll => Path.Combine(Repo, "bench/peers/signalr/bin/Release/net10.0/Parley.Peers.SignalR.dll");

    public string SocketIoPeerDir => Path.Combine(Repo, "bench/peers/socketio");
}

/// <summary>
/// Parley as a cluster: two nodes, PostgreSQL (fsync on), RabbitMQ and Redis presence, everything acknowledged after
/// commit. Servers come from the test fixtures (test/Parley.Testing).
/// </summary>
public sealed class ParleyTarget(Paths paths) : Target(paths)
{
    private const string JwtKey = "parley-benchmark-signing-key-0123456789abcdef";
    private const string Broker = "beam.smp";

    // The process names (comm) of Parley's backends: PostgreSQL (its postmaster and backends), RabbitMQ and Redis.
    private static readonly string[] BackendNames = ["postgres", Broker, "redis-server"];
    private readonly List<ServerProcess> _nodes = [];
    private readonly List<User> _pool = [];
    private readonly int[] _ports = [TestPorts.GetFree(), TestPorts.GetFree()];
    private PostgresServer? _postgres;
    private RabbitMqServer? _rabbit;
    private RedisServer? _redis;
    private string _connectionString = "";
    private int _rooms;

    public override string Name => "parley";

    public override string Description => "Parley: 2 nodes, PostgreSQL (fsync on, commit before ack), RabbitMQ between nodes, Redis presence";

    public override int NodeCount => 2;

    public override bool DirectToUser => false;

    public override int NodePort(int node) => _ports[node];

    /// <summary>
    /// Extra environment for the Parley nodes only, from <c>BENCH_PARLEY_ENV</c> (<c>NAME=value;NAME=value</c>): for
    /// trying a runtime or Parley setting (<c>Parley__Name=value</c>) on Parley alone, the peers and the load generator
    /// unchanged.
    /// </summary>
    private static Dictionary<string, string>? ExtraNodeEnvironment()
    {
        var raw = Environment.GetEnvironmentVariable("BENCH_PARLEY_ENV");
        if (string.IsNullOrWhiteSpace(raw))
        {
            return null;
        }

        return raw.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(pair => pair.Split('=', 2))
            .Where(kv => kv.Length == 2 && kv[0].Length > 0)
            .ToDictionary(kv => kv[0], kv => kv[1]);
    }

    public override async Task<NodeLatency?> NodeLatencyAsync(int node, bool reset)
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync($"http://127.0.0.1:{_ports[node]}/debug/latency?reset={(reset ? "true" : "false")}"));
        var r = doc.RootElement;
        return new NodeLatency(
            NodeTiming.From(r.GetProperty("send")),
            NodeTiming.From(r.GetProperty("commitWait")),
            NodeTiming.From(r.GetProperty("commit")),
            NodeTiming.From(r.GetProperty("batchSize")));
    }

    public override IReadOnlyList<int> ServerPids => _nodes.Select(n => n.Pid).ToList();

    public override IReadOnlyList<(int Pid, bool Tree)> BackendProcesses
    {
        get
        {
            var list = new List<(int, bool)>();
            foreach (var name in BackendNames.Where(name => name != Broker))
            {
                // The fixtures' servers are the only ones of their kind this run started; pick them by command line.
                list.AddRange(FindProcesses(name).Select(p => (p, false)));
            }

            // The broker's command line does not name its node, so it is found through its pid file; its tree takes in
            // the helper processes the Erlang VM starts.
            if (_rabbit?.BrokerPid is { } broker)
            {
                list.Add((broker, true));
            }

            return list;
        }
    }

    /// <summary>
    /// Fails the run when a backend's process cannot be found: its CPU time would silently be missing from every
    /// backend figure of the report (as the broker's was until 28 November).
    /// </summary>
    private void CheckBackendProcesses()
    {
        var found = BackendProcesses.Select(p => File.ReadAllText($"/proc/{p.Pid}/comm").Trim()).ToHashSet(StringComparer.Ordinal);
        var missing = BackendNames.Where(name => !found.Contains(name)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"cannot find the processes of Parley's backends ({string.Join(", ", missing)}): their CPU time would be missing from the report");
        }
    }

    private IEnumerable<int> FindProcesses(string comm)
    {
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string cmdline;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() != comm)
                {
                    continue;
                }

                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                continue;
            }

            var mine = comm switch
            {
                "redis-server" => _redis is not null && cmdline.Contains(":" + _redis.Port, StringComparison.Ordinal),
                _ => _postgres is not null && IsDescendantOrSelfOfPostgres(pid),
            };
            if (mine)
            {
                yield return pid;
            }
        }
    }

    private bool IsDescendantOrSelfOfPostgres(int pid)
    {
        // Backends of our cluster have the postmaster (listening on our port) as parent.
        try
        {
            var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            if (cmd.Contains("-p " + _postgres!.Port, StringComparison.Ordinal))
            {
                return true;
            }

            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            var parent = File.ReadAllText($"/proc/{ppid}/cmdline").Replace('\0', ' ');
            return parent.Contains("-p " + _postgres.Port, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return false;
        }
    }

    public override async Task StartBackendsAsync()
    {
        var pg = PostgresServer.StartAsync();
        var rabbit = RabbitMqServer.StartAsync();
        var redis = RedisServer.StartAsync();
        _postgres = await pg;
        // Two nodes × Npgsql's default 100 connections would have the postmaster fork up to 200 backends in a burst when
        // thousands of clients say hello at once; on 2 shared cores that fork storm outlasts the connect timeout.
        _connectionString = new Npgsql.NpgsqlConnectionStringBuilder(await _postgres.CreateDatabaseAsync("bench"))
        {
            MaxPoolSize = 32,
            MinPoolSize = 8,
            Timeout = 10,
        }.ConnectionString;
        _rabbit = await rabbit;
        _redis = await redis;
        CheckBackendProcesses();
    }

    public override async Task StartNodesAsync(string scenario)
    {
        await StopNodesAsync();
        for (var i = 0; i < 2; i++)
        {
            string[] args =
            [
                Paths.ParleyServerDll,
                "--urls", $"http://127.0.0.1:{_ports[i]}",
                $"--Parley:NodeId=bench-{scenario}-{i}",
                "--Parley:Store=postgres", $"--Parley:Postgres={_connectionString}",
                "--Parley:Bus=rabbitmq", $"--Parley:RabbitMq={_rabbit!.Uri}",
                "--Parley:Presence=redis", $"--Parley:Redis={_redis!.Endpoint}",
                $"--Parley:JwtKey={JwtKey}",
                "--Parley:PasswordIterations=1000", "--Parley:RegistrationsPerAddress=0",
                "--Parley:SendRatePerSecond=1000000", "--Parley:SendBurst=1000000",
                "--Parley:DiagnosticsEndpoint=true",
                "--Logging:LogLevel:Default=Warning",
            ];
            _nodes.Add(ServerProcess.Start("dotnet", args, Path.Combine(Paths.Out, "logs", $"parley-{scenario}-{i}.log"), ExtraNodeEnvironment(), workingDir: Paths.Out));
        }

        foreach (var (node, i) in _nodes.Select((n, i) => (n, i)))
        {
            await node.WaitHttpAsync(Http, $"http://127.0.0.1:{_ports[i]}/readyz", TimeSpan.FromSeconds(60));
        }
    }

    public override async Task StopNodesAsync()
    {
        foreach (var n in _nodes)
        {
            await n.DisposeAsync();
        }

        _nodes.Clear();
    }

    public override async Task<List<User>> UsersAsync(int from, int count)
    {
        if (_pool.Count < from + count)
        {
            var missing = Enumerable.Range(_pool.Count, from + count - _pool.Count).ToList();
            var made = new User[missing.Count];
            await ParallelAsync(missing.Select((n, i) => (n, i)), 32, async x =>
            {
                var name = $"bench{x.n}";
                using var r = await Http.PostAsJsonAsync(Url(x.n, "/api/v1/auth/register"), new { username = name, password = "benchmark-password" });
                r.EnsureSuccessStatusCode();
                using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
                made[x.i] = new User(doc.RootElement.GetProperty("userId").GetString()!, name, doc.RootElement.GetProperty("token").GetString()!);
            });
            _pool.AddRange(made);
        }

        return _pool.GetRange(from, count);
    }

    public override async Task<string> RoomAsync(string name, IReadOnlyList<User> members)
    {
        var n = Interlocked.Increment(ref _rooms);
        using var created = await SendAsync(HttpMethod.Post, n, "/api/v1/rooms", members[0], new { name = name + n });
        using var doc = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var id = doc.RootElement.GetProperty("id").GetString()!;
        await ParallelAsync(members.Skip(1).Select((m, i) => (m, i)), 32, async x =>
        {
            using var r = await SendAsync(HttpMethod.Post, x.i, $"/api/v1/rooms/{id}/join", x.m, null);
        });
        return id;
    }

    public override async Task<string> DirectAsync(User from, User to)
    {
        using var r = await SendAsync(HttpMethod.Post, 0, "/api/v1/dms", from, new { username = to.Username });
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("id").GetString()!;
    }

    public override async Task PostAsync(User user, string room, string body)
    {
        using var r = await SendAsync(HttpMethod.Post, 0, $"/api/v1/conversations/{room}/messages", user, new { clientMsgId = Guid.NewGuid().ToString("N"), body });
    }

    private string Url(int spread, string path) => $"http://127.0.0.1:{_ports[spread % 2]}{path}";

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, int spread, string path, User user, object? body)
    {
        using var request = new HttpRequestMessage(method, Url(spread, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.Token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        var response = await Http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync();
            response.Dispose();
            throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text}");
        }

        return response;
    }

    public override async ValueTask DisposeAsync()
    {
        await StopNodesAsync();
        if (_rabbit is not null)
        {
            await _rabbit.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

/// <summary>Socket.IO 4 with @socket.io/redis-adapter: two Node.js processes and Redis (bench/peers/socketio).</summary>
public sealed class SocketIoTarget(Paths paths) : Target(paths)
{
    private readonly List<ServerProcess> _nodes = [];
    private readonly int[] _ports = [TestPorts.GetFree(), TestPorts.GetFree()];
    private RedisServer? _redis;

    public override string Name => "socketio";

    public override string Description => "Socket.IO 4.8 + @socket.io/redis-adapter: 2 Node.js processes and Redis; stores nothing, acknowledges nothing";

    public override int NodeCount => 2;

    public override bool DirectToUser => true;

    public override int NodePort(int node) => _ports[node];

    public override IReadOnlyList<int> ServerPids => _nodes.Select(n => n.Pid).ToList();

    public override IReadOnlyList<(int Pid, bool Tree)> BackendProcesses =>
        _redis is null ? [] : FindRedis(_redis.Port);

    internal static List<(int, bool)> FindRedis(int port)
    {
        var list = new List<(int, bool)>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "redis-server" &&
                    File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(":" + port, StringComparison.Ordinal))
                {
                    list.Add((pid, false));
                }
            }
            catch (IOException)
            {
            }
        }

        return list;
    }

    public override async Task StartBackendsAsync() => _redis = await RedisServer.StartAsync();

    public override async Task StartNodesAsync(string scenario)
    {
        await StopNodesAsync();
        for (var i = 0; i < 2; i++)
        {
            var env = new Dictionary<string, string>
            {
                ["PORT"] = _ports[i].ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["REDIS_URL"] = $"redis://{_redis!.Endpoint}",
            };
            PeerBacklog.AddTo(env);
            _nodes.Add(ServerProcess.Start("node", ["--expose-gc", Path.Combine(Paths.SocketIoPeerDir, "server.js")], Path.Combine(Paths.Out, "logs", $"socketio-{scenario}-{i}.log"), env, Paths.SocketIoPeerDir));
        }

        foreach (var (node, i) in _nodes.Select((n, i) => (n, i)))
        {
            await node.WaitHttpAsync(Http, $"http://127.0.0.1:{_ports[i]}/debug/memory", TimeSpan.FromSeconds(30));
        }
    }

    public override async Task StopNodesAsync()
    {
        foreach (var n in _nodes)
        {
            await n.DisposeAsync();
        }

        _nodes.Clear();
    }

    public override Task<List<User>> UsersAsync(int from, int count) =>
        Task.FromResult(Enumerable.Range(from, count).Select(i => new User($"u{i}", $"user{i}", "")).ToList());

    private int _rooms;

    public override Task<string> RoomAsync(string name, IReadOnlyList<User> members) => Task.FromResult(name + Interlocked.Increment(ref _rooms));

    public override Task<string> DirectAsync(User from, User to) => Task.FromResult(to.UserId);

    public override async ValueTask DisposeAsync()
    {
        await StopNodesAsync();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }
}

/// <summary>An ASP.NET Core SignalR hub chat in one process (bench/peers/signalr); its Redis backplane cannot be restored here.</summary>
public sealed class SignalRTarget(Paths paths) : Target(paths)
{
    private readonly int _port = TestPorts.GetFree();
    private ServerProcess? _node;
    private int _rooms;

    public override string Name => "signalr";

    public override string Description => "ASP.NET Core SignalR hub (JSON protocol over WebSocket), 1 process; stores nothing, acknowledges nothing";

    public override int NodeCount => 1;

    public override bool DirectToUser => true;

    public override int NodePort(int node) => _port;

    public override IReadOnlyList<int> ServerPids => _node is null ? [] : [_node.Pid];

    public override IReadOnlyList<(int Pid, bool Tree)> BackendProcesses => [];

    public override Task StartBackendsAsync() => Task.CompletedTask;

    public override async Task StartNodesAsync(string scenario)
    {
        await StopNodesAsync();
        var env = new Dictionary<string, string>();
        PeerBacklog.AddTo(env);
        _node = ServerProcess.Start("dotnet", [Paths.SignalRPeerDll, "--urls", $"http://127.0.0.1:{_port}", "--Logging:LogLevel:Default=Warning"], Path.Combine(Paths.Out, "logs", $"signalr-{scenario}.log"), env, workingDir: Paths.Out);
        await _node.WaitHttpAsync(Http, $"http://127.0.0.1:{_port}/debug/memory", TimeSpan.FromSeconds(30));
    }

    public override async Task StopNodesAsync()
    {
        if (_node is not null)
        {
            await _node.DisposeAsync();
            _node = null;
        }
    }

    public override Task<List<User>> UsersAsync(int from, int count) =>
        Task.FromResult(Enumerable.Range(from, count).Select(i => new User($"u{i}", $"user{i}", "")).ToList());

    public override Task<string> RoomAsync(string name, IReadOnlyList<User> members) => Task.FromResult(name + Interlocked.Increment(ref _rooms));

    public override Task<string> DirectAsync(User from, User to) => Task.FromResult(to.UserId);

    public override async ValueTask DisposeAsync() => await StopNodesAsync();
}

/// <summary>
/// The accept queue the peers listen with: Parley's default (4,096), so a storm measures the servers rather than a
/// listen setting — with their frameworks' defaults (Node 511, Kestrel 512) the kernel drops the SYNs of a storm's
/// clients and they retry seconds later. <c>BENCH_PEER_BACKLOG</c> sets another; 0 leaves the frameworks' defaults.
/// It reaches the peers as <c>LISTEN_BACKLOG</c>.
/// </summary>
internal static class PeerBacklog
{
    private const int SameAsParley = 4_096;

    public static void AddTo(Dictionary<string, string> env)
    {
        var value = Environment.GetEnvironmentVariable("BENCH_PEER_BACKLOG");
        var backlog = int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var b) ? b : SameAsParley;
        if (backlog > 0)
        {
            env["LISTEN_BACKLOG"] = backlog.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
