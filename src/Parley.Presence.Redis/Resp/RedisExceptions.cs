namespace Parley.Presence.Redis.Resp;

/// <summary>Anything that went wrong talking to Redis; the presence store maps it to PresenceUnavailableException.</summary>
internal class RedisException : Exception
{
    public RedisException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The connection could not be opened, or it closed while the command was in flight.</summary>
internal sealed class RedisConnectionException : RedisException
{
    public RedisConnectionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>No reply arrived within the command timeout.</summary>
internal sealed class RedisTimeoutException : RedisException
{
    public RedisTimeoutException(string message) : base(message) { }
}

/// <summary>Redis answered with an error reply (e.g. "ERR …", "NOSCRIPT …").</summary>
internal sealed class RedisServerException : RedisException
{
    public RedisServerException(string message) : base(message) { }

    /// <summary>The first word of the error, e.g. "ERR", "NOSCRIPT", "WRONGTYPE".</summary>
    public string Prefix => Message.Split(' ', 2)[0];
}

/// <summary>The bytes on the wire are not valid RESP2; the connection cannot be trusted any more.</summary>
internal sealed class RedisProtocolException : RedisException
{
    public RedisProtocolException(string message) : base(message) { }
}
