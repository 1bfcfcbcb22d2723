namespace Parley.Presence.Redis.Resp;

/// <summary>A Lua script run with EVALSHA; its SHA is learned from SCRIPT LOAD and re-learned after NOSCRIPT.</summary>
internal sealed class RedisScript(string name, string source)
{
    private volatile string? _sha;

    /// <summary>A short name for error messages.</summary>
    public string Name { get; } = name;

    public string Source { get; } = source;

    /// <summary>The SHA1 Redis reported for the script, or null before the first load.</summary>
    public string? Sha
    {
        get => _sha;
        set => _sha = value;
    }
}
