namespace Parley.Protocol;

/// <summary>The client operations of protocol v1.</summary>
public enum ClientOp
{
    /// <summary>First frame: authenticate and optionally resume.</summary>
    Hello,

    /// <summary>Store a message.</summary>
    Send,

    /// <summary>Raise the delivered watermark.</summary>
    Delivered,

    /// <summary>Raise the read watermark (and delivered with it).</summary>
    Read,

    /// <summary>Tell the other members the caller is typing.</summary>
    Typing,

    /// <summary>Application-level ping, answered with pong.</summary>
    Ping,
}

/// <summary>A client frame that passed parsing and validation. Only the fields of its op are set.</summary>
public sealed class ClientFrame
{
    /// <summary>The operation.</summary>
    public ClientOp Op { get; init; }

    /// <summary>The conversation id (send, delivered, read, typing).</summary>
    public string Conv { get; init; } = "";

    /// <summary>The client's idempotency key (send).</summary>
    public string ClientMsgId { get; init; } = "";

    /// <summary>The message body (send).</summary>
    public string Body { get; init; } = "";

    /// <summary>The watermark (delivered, read).</summary>
    public long Seq { get; init; }

    /// <summary>The bearer token (hello).</summary>
    public string Token { get; init; } = "";

    /// <summary>Per-conversation resume cursors (hello), or null.</summary>
    public IReadOnlyDictionary<string, long>? Resume { get; init; }

    /// <summary>The ping's <c>t</c> as raw JSON (a number or a JSON string literal), or null.</summary>
    public string? PingT { get; init; }
}

/// <summary>The outcome of parsing one client frame: a frame, or an error to send back.</summary>
public readonly record struct ClientFrameResult(ClientFrame? Frame, string? ErrorCode, string? ErrorMessage, string? Ref)
{
    /// <summary>True when <see cref="Frame"/> is set.</summary>
    public bool IsOk => Frame is not null;

    internal static ClientFrameResult Ok(ClientFrame frame) => new(frame, null, null, null);

    internal static ClientFrameResult Fail(string code, string message, string? reference) => new(null, code, message, reference);
}
