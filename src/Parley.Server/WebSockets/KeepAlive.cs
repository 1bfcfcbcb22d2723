namespace Parley.Server.WebSockets;

/// <summary>
/// The node's WebSocket heartbeat (protocol: the server pings every <c>heartbeatMs</c> and closes a peer silent for two
/// periods). One loop for every connection instead of a timer each: a tenth of a period apart it visits every open
/// socket, pings one that has sent nothing for a period (once a period while it stays silent) and drops one silent for
/// two. A connection that talks needs no ping, and silent ones are pinged in small groups as their periods run out,
/// never all at once: a ping burst to every socket would make the transport take a send buffer for each at the same
/// moment, and its memory pool keeps what it took. The open sockets are kept in an intrusive list, so a connection
/// costs the sweep two references.
/// </summary>
internal sealed class KeepAlive(ParleyNode node) : BackgroundService
{
    private readonly LiveList<WebSocketConnection> _live = new();

    /// <summary>The ping period.</summary>
    public TimeSpan Period { get; } = WebSocketEndpoint.Heartbeat(node);

    /// <summary>Starts pinging <paramref name="connection"/>.</summary>
    public void Add(WebSocketConnection connection) => _live.Add(connection);

    /// <summary>Stops pinging <paramref name="connection"/> (it ended).</summary>
    public void Remove(WebSocketConnection connection) => _live.Remove(connection);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A silent peer is dropped within a tenth of a period after its second silent period.
        var periodMs = (long)Period.TotalMilliseconds;
        using var timer = new PeriodicTimer(Period / 10);
        var last = Environment.TickCount64;
        var resumedAt = 0L;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = Environment.TickCount64;
                if (now - last > periodMs)
                {
                    // The node itself stood still for a period (stopped, its VM paused): nothing was read meanwhile, so
                    // that time says nothing about the peers. Their silence counts from now; each gets a ping first.
                    resumedAt = now;
                }

                last = now;
                Sweep(now, periodMs, resumedAt);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    // Pings may write to a socket inline: the list visits a snapshot, outside the lock new connections take.
    private void Sweep(long now, long periodMs, long resumedAt) =>
        _live.ForEach(static (c, t) => c.Heartbeat(t.now, t.periodMs, t.resumedAt), (now, periodMs, resumedAt));
}
