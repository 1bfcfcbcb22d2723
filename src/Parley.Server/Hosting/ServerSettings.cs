namespace Parley.Server.Hosting;

/// <summary>Host-level settings of the <c>Parley</c> section that the core does not need.</summary>
public sealed class ServerSettings
{
    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Store { get; set; } = "sqlite";

    /// <summary>SQLite database file (embedded default).</summary>
    public string SqlitePath { get; set; } = "data/parley.db";

    /// <summary>Npgsql connection string.</summary>
    public string Postgres { get; set; } = "";

    /// <summary>PostgreSQL append batches a node commits at once (its group-commit writers; one conversation always uses one).</summary>
    public int PostgresWriters { get; set; } = new Parley.Store.Postgres.PostgresStoreOptions().MaxConcurrentAppends;

    /// <summary><c>memory</c> (default) or <c>rabbitmq</c>.</summary>
    public string Bus { get; set; } = "memory";

    /// <summary>AMQP URI of RabbitMQ.</summary>
    public string RabbitMq { get; set; } = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary><c>memory</c> (default) or <c>redis</c>.</summary>
    public string Presence { get; set; } = "memory";

    /// <summary>Redis <c>host:port</c>.</summary>
    public string Redis { get; set; } = "127.0.0.1:6379";

    /// <summary>How often a node refreshes its presence registration (Redis).</summary>
    public int PresenceHeartbeatMs { get; set; } = 2_000;

    /// <summary>How long a silent node stays registered; its users go offline about this long after it dies.</summary>
    public int PresenceTtlMs { get; set; } = 10_000;

    /// <summary>Prefix of Parley's Redis keys.</summary>
    public string RedisKeyPrefix { get; set; } = "parley:";

    /// <summary>JWT signing secret (at least 32 bytes of UTF-8); required in a cluster. Single node: generated into the data folder.</summary>
    public string JwtKey { get; set; } = "";

    /// <summary>
    /// Connections the kernel may queue for accept on each listening socket (capped by <c>net.core.somaxconn</c>). A
    /// reconnect storm arrives faster than any accept loop: past the queue the kernel drops the SYN and the client
    /// retries only after a second. Kestrel's default is 512.
    /// </summary>
    public int ListenBacklog { get; set; } = 4_096;

    /// <summary>
    /// Listening sockets per TCP endpoint; 0 (the default) means one per processor. More than one share the port through
    /// <c>SO_REUSEPORT</c> (Linux): the kernel spreads new connections over them by their address hash, each socket has
    /// its own accept queue of <see cref="ListenBacklog"/> and its own accept loop, so a node briefly stalled (a
    /// collection, a busy core) absorbs that many times the burst before the kernel drops SYNs. 1 binds one plain socket.
    /// </summary>
    public int ListenSockets { get; set; }

    /// <summary>PBKDF2 iterations for new password hashes.</summary>
    public int PasswordIterations { get; set; } = Auth.PasswordHasher.RecommendedIterations;

    /// <summary>Password hashes computed at once (bounded so a login flood cannot starve chat traffic).</summary>
    public int PasswordHashConcurrency { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Failed logins per account per window before 429.</summary>
    public int LoginFailuresPerAccount { get; set; } = 10;

    /// <summary>Failed logins per client address per window before 429.</summary>
    public int LoginFailuresPerAddress { get; set; } = 50;

    /// <summary>
    /// Registrations (valid ones, taken names included) per client address per window before 429; 0 for no limit. Each
    /// costs a password hash from the queue logins wait in, so without it one address could keep everyone from logging in.
    /// </summary>
    public int RegistrationsPerAddress { get; set; } = 30;

    /// <summary>Window for counting failed logins and registrations, in seconds.</summary>
    public int LoginWindowSeconds { get; set; } = 300;

    /// <summary>Browser origins allowed to open WebSockets besides the same origin ("*" for any).</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Addresses of reverse proxies (nginx) whose <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> are believed; empty
    /// (the default) believes nobody, so clients cannot forge their address.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>Seconds a stopping node waits for its sockets to close after sending 1012.</summary>
    public int DrainSeconds { get; set; } = 5;

    /// <summary>Maps <c>GET /debug/memory</c> (forces a full GC; for benchmarks only).</summary>
    public bool DiagnosticsEndpoint { get; set; }

    /// <summary>True when several nodes share state (and so must share a configured JWT key).</summary>
    public bool IsCluster =>
        !Store.Equals("sqlite", StringComparison.OrdinalIgnoreCase) || !Bus.Equals("memory", StringComparison.OrdinalIgnoreCase);
}
