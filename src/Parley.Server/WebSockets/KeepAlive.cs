using System.Buffers;

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
    private readonly Lock _lock = new();
    private WebSocketConnection? _head;
    private int _count;

    /// <summary>The ping period.</summary>
    public TimeSpan Period { get; } = WebSocketEndpoint.Heartbeat(node);

    /// <summary>Starts pinging <paramref name="connection"/>.</summary>
    public void Add(WebSocketConnection connection)
    {
        lock (_lock)
        {
            connection.LiveNext = _head;
            if (_head is not null)
            {
                _head.LivePrev = connection;
            }

            _head = connection;
            _count++;
        }
    }

    /// <summary>Stops pinging <paramref name="connection"/> (it ended). Only call after <see cref="Add"/>.</summary>
    public void Remove(WebSocketConnection connection)
    {
        lock (_lock)
        {
            if (connection.LivePrev is { } prev)
            {
                prev.LiveNext = connection.LiveNext;
            }
            else if (_head == connection)
            {
                _head = connection.LiveNext;
            }
            else
            {
                return;
            }

            if (connection.LiveNext is { } next)
            {
                next.LivePrev = connection.LivePrev;
            }

            connection.LivePrev = connection.LiveNext = null;
            _count--;
        }
    }

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

    private void Sweep(long now, long periodMs, long resumedAt)
    {
        // A snapshot, so that pings (which may write to a socket inline) run outside the lock new connections take.
        WebSocketConnection[] live;
        int n;
        lock (_lock)
        {
            live = ArrayPool<WebSocketConnection>.Shared.Rent(Math.Max(1, _count));
            n = 0;
            for (var c = _head; c is not null && n < live.Length; c = c.LiveNext)
            {
                live[n++] = c;
            }
        }

        try
        {
            for (var i = 0; i < n; i++)
            {
                live[i].Heartbeat(now, periodMs, resumedAt);
            }
        }
        finally
        {
            ArrayPool<WebSocketConnection>.Shared.Return(live, clearArray: true);
        }
    }
}
