namespace Parley.Client;

/// <summary>Settings of a <see cref="ParleyClient"/>.</summary>
public sealed class ParleyClientOptions
{
    /// <summary>The server (or load balancer) base address, e.g. <c>http://localhost:5080/</c>.</summary>
    public required Uri BaseUri { get; init; }

    /// <summary>Supplies a valid token; called before every (re)connection, so it may log in again when one expired.</summary>
    public required Func<CancellationToken, Task<string>> TokenProvider { get; init; }

    /// <summary>First reconnect delay; doubled after each failure up to <see cref="MaxReconnectDelay"/>, with jitter.</summary>
    public TimeSpan MinReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest reconnect delay.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>When true, the client reports delivered watermarks for what it received (debounced).</summary>
    public bool AutoDelivered { get; init; } = true;

    /// <summary>Debounce for delivered watermarks.</summary>
    public TimeSpan DeliveredDebounce { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a pending send waits before it is resent on the same connection when no ack came.</summary>
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the client pings the server (WebSocket ping frames); <see cref="TimeSpan.Zero"/> turns pings off.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a ping may go unanswered before the connection is treated as dead and replaced.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long opening the WebSocket (TCP, upgrade) may take before the attempt is abandoned and retried.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Cursors saved from an earlier run (<see cref="ParleyClient.Cursors"/>): the client resumes from them, so an app
    /// restarted after a crash continues exactly where it had got to. Conversations not named start at the server's
    /// delivered watermark.
    /// </summary>
    public IReadOnlyDictionary<string, long>? InitialCursors { get; init; }

    /// <summary>The HTTP client to use for REST calls; one is created when null.</summary>
    public HttpClient? Http { get; init; }
}
