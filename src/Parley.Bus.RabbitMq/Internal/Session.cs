using RabbitMQ.Client;

namespace Parley.Bus.RabbitMq.Internal;

/// <summary>
/// One connection to the broker with its two channels: <see cref="Channel"/> declares, binds and consumes;
/// <see cref="Publisher"/> only publishes, so a long rebind never delays publications. Once lost, a session is never
/// reused: the bus builds a new one.
/// </summary>
internal sealed class Session : IAsyncDisposable
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private readonly TaskCompletionSource _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _lostToken = new();
    private string? _reason;
    private int _disposed;

    public Session(IConnection connection, IChannel channel, IChannel publisher)
    {
        Connection = connection;
        Channel = channel;
        Publisher = publisher;
        connection.ConnectionShutdownAsync += OnShutdownAsync;
        channel.ChannelShutdownAsync += OnShutdownAsync;
        publisher.ChannelShutdownAsync += OnShutdownAsync;

        // The shutdown may have happened before the handlers were attached.
        if (!connection.IsOpen || !channel.IsOpen || !publisher.IsOpen)
        {
            MarkLost();
        }
    }

    public IConnection Connection { get; }

    public IChannel Channel { get; }

    public IChannel Publisher { get; }

    /// <summary>Completes when the connection or one of its channels shut down.</summary>
    public Task Lost => _lost.Task;

    /// <summary>Cancelled when the session is lost.</summary>
    public CancellationToken LostToken => _lostToken.Token;

    public bool IsLost => _lost.Task.IsCompleted;

    /// <summary>Why the session was lost, as the first shutdown notice said.</summary>
    public string Reason => _reason ?? "closed";

    public void MarkLost()
    {
        if (_lost.TrySetResult())
        {
            _lostToken.Cancel();
        }
    }

    private Task OnShutdownAsync(object sender, RabbitMQ.Client.Events.ShutdownEventArgs args)
    {
        Interlocked.CompareExchange(ref _reason, $"{args.ReplyCode} {args.ReplyText}", null);
        MarkLost();
        return Task.CompletedTask;
    }

    /// <summary>Closes the connection (politely while it is healthy) within a bounded time; see <see cref="DiscardAsync"/>.</summary>
    public ValueTask DisposeAsync() => new(DisposeBoundedAsync());

    /// <summary>As <see cref="DisposeAsync"/>, and false when the client library was still closing when the bound ran out.</summary>
    public async Task<bool> DisposeBoundedAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return true;
        }

        var healthy = !IsLost && Connection.IsOpen;
        MarkLost();
        var closed = await DiscardAsync(Connection, healthy, CloseTimeout);
        _lostToken.Dispose();
        return closed;
    }

    /// <summary>
    /// Closes (politely: the broker then deletes the exclusive queue at once) or aborts a connection, then disposes it,
    /// waiting at most twice <paramref name="timeout"/> for the client library: its dispose can hang after a close that
    /// ran out of time (rabbitmq-dotnet-client issue 1757), and whoever discards a connection (the reconnect loop above
    /// all) must go on whatever the library does. A close still running then finishes, or not, on its own; it has
    /// aborted the socket or given up by then. False when the bound ran out.
    /// </summary>
    public static async Task<bool> DiscardAsync(IConnection connection, bool polite, TimeSpan timeout)
    {
        var closing = CloseAndDisposeAsync(connection, polite, timeout);
        try
        {
            await closing.WaitAsync(timeout * 2);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static async Task CloseAndDisposeAsync(IConnection connection, bool polite, TimeSpan timeout)
    {
        try
        {
            if (polite)
            {
                await connection.CloseAsync(Constants.ReplySuccess, "node shutting down", timeout);
            }
            else
            {
                await connection.AbortAsync(timeout);
            }
        }
        catch (Exception)
        {
            // The connection is being discarded; a failure to close it politely changes nothing.
        }

        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // Nor does a failure to dispose it: nothing here uses it again.
        }
    }
}
