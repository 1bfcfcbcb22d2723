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

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var healthy = !IsLost && Connection.IsOpen;
        MarkLost();
        try
        {
            if (healthy)
            {
                // Closing the connection closes its channels; the broker then deletes the exclusive queue at once.
                await Connection.CloseAsync(Constants.ReplySuccess, "node shutting down", CloseTimeout);
            }
            else
            {
                await Connection.AbortAsync(CloseTimeout);
            }
        }
        catch (Exception)
        {
            // The connection is being discarded; a failure to close it politely changes nothing.
        }

        await Connection.DisposeAsync();
        _lostToken.Dispose();
    }
}
