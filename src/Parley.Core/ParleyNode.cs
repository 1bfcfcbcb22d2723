using Microsoft.Extensions.Logging;
using Parley.Chat;
using Parley.Delivery;
using Parley.Protocol;

namespace Parley;

/// <summary>
/// One Parley node's core, independent of the web host: the store, bus and presence backends chosen by configuration,
/// the hub, the group-commit writer and the chat service, with their start and graceful stop.
/// </summary>
public sealed class ParleyNode : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger<ParleyNode> _log;
    private Task _headChecks = Task.CompletedTask;
    private Task _expirySweep = Task.CompletedTask;
    private volatile bool _draining;
    private int _disposed;

    /// <summary>Composes a node from its three backends.</summary>
    public ParleyNode(IChatStore store, IMessageBus bus, IPresenceStore presence, ParleyOptions options, ILoggerFactory logs)
    {
        Store = store;
        Bus = bus;
        Presence = presence;
        Options = options;
        _log = logs.CreateLogger<ParleyNode>();
        Hub = new Hub(store, bus, presence, options, logs.CreateLogger<Hub>());
        var queueTimeout = TimeSpan.FromMilliseconds(options.StoreQueueTimeoutMs);
        var commitLog = logs.CreateLogger("Parley.GroupCommit");
        Messages = new GroupCommitter<AppendRequest, AppendResult>(
            store.MaxConcurrentAppends, r => r.Conv, store.AppendBatchAsync, ChatService.Announcer(() => Hub), options.MaxCommitBatch, queueTimeout, commitLog);
        Watermarks = new GroupCommitter<WatermarkUpdate, WatermarkResult>(
            store.MaxConcurrentAppends, u => u.ConvId, store.RaiseWatermarksAsync, null, options.MaxCommitBatch, queueTimeout, commitLog);
        var limiter = new SendRateLimiter(
            options.SendRatePerSecond,
            options.SendBurst,
            options.FloodCloseAfterRejects,
            TimeSpan.FromMilliseconds(options.FloodWindowMs),
            TimeSpan.FromMilliseconds(options.FloodCooldownMs));
        Chat = new ChatService(store, Hub, Messages, Watermarks, presence, limiter, logs.CreateLogger<ChatService>());
    }

    /// <summary>The node's settings.</summary>
    public ParleyOptions Options { get; }

    /// <summary>The store (source of truth).</summary>
    public IChatStore Store { get; }

    /// <summary>The bus between nodes.</summary>
    public IMessageBus Bus { get; }

    /// <summary>The presence backend.</summary>
    public IPresenceStore Presence { get; }

    /// <summary>The node's sessions and routing.</summary>
    public Hub Hub { get; }

    /// <summary>Group commit of message appends.</summary>
    public GroupCommitter<AppendRequest, AppendResult> Messages { get; }

    /// <summary>Group commit of watermark raises.</summary>
    public GroupCommitter<WatermarkUpdate, WatermarkResult> Watermarks { get; }

    /// <summary>Every chat operation.</summary>
    public ChatService Chat { get; }

    /// <summary>True once a graceful stop began: no new connections are accepted.</summary>
    public bool IsDraining => _draining;

    /// <summary>
    /// Initializes the store (waiting up to <see cref="ParleyOptions.StoreStartupWaitMs"/> while it is unavailable), then
    /// starts the bus, presence, the periodic head check and the credentials expiry sweep.
    /// </summary>
    public async Task StartAsync(CancellationToken ct)
    {
        await InitializeStoreAsync(ct);
        await Bus.StartAsync(Hub, ct);
        await Hub.SubscribeUserEventsAsync();
        await Presence.StartAsync(Hub, ct);
        _headChecks = Hub.RunHeadChecksAsync(_stop.Token);
        _expirySweep = Hub.RunExpirySweepAsync(_stop.Token);
        _log.LogInformation("node {Node} started", Options.NodeId);
    }

    // A node (re)started while PostgreSQL is restarting or slow to accept connections waits for it rather than exiting:
    // in a rolling restart on a busy machine, every start attempt outlasted the 3 s connect timeout (fault campaign).
    private async Task InitializeStoreAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(Options.StoreStartupWaitMs);
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await Store.InitializeAsync(ct);
                return;
            }
            catch (StoreUnavailableException e) when (DateTime.UtcNow + delay < deadline)
            {
                _log.LogWarning("store unavailable at start-up ({Reason}); retrying in {Delay} ms", e.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    /// <summary>Graceful drain: stop accepting, close every socket with 1012 so clients resume on other nodes.</summary>
    public async Task DrainAsync(TimeSpan grace)
    {
        _draining = true;
        var deadline = DateTime.UtcNow + grace;
        Hub.CloseAll(CloseCodes.ServiceRestart, "node shutting down");
        await Task.Delay(20);
        // Once more for a hello that saw the node not yet draining and created its session after the first pass (later
        // hellos see IsDraining and close themselves with 1012).
        Hub.CloseAll(CloseCodes.ServiceRestart, "node shutting down");
        while (Hub.SessionCount > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    /// <summary>Readiness: the store, the bus and presence all answer.</summary>
    public async Task<(bool Ready, string Detail)> CheckReadyAsync(CancellationToken ct)
    {
        if (_draining)
        {
            return (false, "draining");
        }

        var store = await Probe(Store.PingAsync, ct);
        var bus = await Probe(Bus.PingAsync, ct);
        var presence = await Probe(Presence.PingAsync, ct);
        return (store && bus && presence, $"store={(store ? "up" : "down")} bus={(bus ? "up" : "down")} presence={(presence ? "up" : "down")}");
    }

    private static async Task<bool> Probe(Func<CancellationToken, Task<bool>> ping, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            return await ping(timeout.Token).WaitAsync(timeout.Token);
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Held presence ends first, while the store, the bus and the presence store still run.
        await Hub.EndPresenceHoldsAsync(TimeSpan.FromSeconds(5));
        await _stop.CancelAsync();
        await _headChecks;
        await _expirySweep;
        await Messages.DisposeAsync();
        await Watermarks.DisposeAsync();
        await Presence.DisposeAsync();
        await Bus.DisposeAsync();
        await Store.DisposeAsync();
        _stop.Dispose();
    }
}
