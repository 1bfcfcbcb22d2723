namespace Parley.Protocol;

/// <summary>The error codes of protocol v1 and their HTTP statuses.</summary>
public static class ErrorCodes
{
    /// <summary>Malformed JSON, unknown op, missing or out-of-range field (400).</summary>
    public const string Invalid = "invalid";

    /// <summary>Missing, bad or expired token; wrong password (401).</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>Authenticated but not allowed (403).</summary>
    public const string Forbidden = "forbidden";

    /// <summary>No such thing, or the caller is not a member (404).</summary>
    public const string NotFound = "not_found";

    /// <summary>Username taken (409).</summary>
    public const string Conflict = "conflict";

    /// <summary>Body or frame over its limit (413).</summary>
    public const string TooLarge = "too_large";

    /// <summary>Over a rate limit (429).</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A dependency is down; nothing was stored; safe to retry (503).</summary>
    public const string Unavailable = "unavailable";

    /// <summary>The HTTP status that goes with a code.</summary>
    public static int HttpStatus(string code) => code switch
    {
        Invalid => 400,
        Unauthorized => 401,
        Forbidden => 403,
        NotFound => 404,
        Conflict => 409,
        TooLarge => 413,
        RateLimited => 429,
        Unavailable => 503,
        _ => 500,
    };
}

/// <summary>WebSocket close codes Parley uses.</summary>
public static class CloseCodes
{
    /// <summary>The server is going away (drain on shutdown); reconnect elsewhere.</summary>
    public const int ServiceRestart = 1012;

    /// <summary>A frame over the size limit.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>No valid hello in time, a bad token, or the token expired.</summary>
    public const int Unauthorized = 4001;

    /// <summary>The client read too slowly and its outbound queue overflowed; reconnect and resume.</summary>
    public const int SlowConsumer = 4008;

    /// <summary>The client kept sending over its rate limit.</summary>
    public const int RateLimited = 4029;
}
