namespace Parley.Presence.Redis;

/// <summary>Settings of <see cref="RedisPresence"/>; the defaults suit a production cluster.</summary>
public sealed class RedisPresenceOptions
{
    /// <summary>Redis as "host:port".</summary>
    public string Endpoint { get; set; } = "127.0.0.1:6379";

    /// <summary>How often the node refreshes its registry entry and looks for dead nodes.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a node stays registered without a heartbeat; its users go offline about this long after it dies.</summary>
    public TimeSpan NodeTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest any presence call waits for Redis before it throws PresenceUnavailableException.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Prefix of every key, so several clusters (or test runs) can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "parley:";

    /// <summary>Called with failures of the background heartbeat, sweeps and callbacks, e.g. to log them.</summary>
    public Action<string, Exception>? OnBackgroundError { get; set; }
}
