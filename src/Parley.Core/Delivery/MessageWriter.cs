using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Parley.Delivery;

/// <summary>
/// Group commit: sends that arrive while a commit is in flight are collected and committed together in one store
/// transaction, so durability costs one flush per batch rather than per message. Conversations are partitioned over
/// <see cref="IChatStore.MaxConcurrentAppends"/> writer loops; one conversation always uses the same loop, so its
/// commits, and the callbacks announcing them, happen in seq order.
/// </summary>
public sealed class MessageWriter : IAsyncDisposable
{
    /// <summary>Called in commit order, on the writer loop, right after a batch committed (before the senders hear of it).</summary>
    public delegate void CommittedHandler(IReadOnlyList<AppendResult> stored);

    private sealed record Pending(AppendRequest Request, TaskCompletionSource<AppendResult> Done, long EnqueuedAt);

    private readonly IChatStore _store;
    private readonly CommittedHandler _onCommitted;
    private readonly ILogger _log;
    private readonly int _maxBatch;
    private readonly TimeSpan _queueTimeout;
    private readonly Channel<Pending>[] _partitions;
    private readonly Task[] _loops;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Creates the writer and starts its loops.</summary>
    public MessageWriter(IChatStore store, CommittedHandler onCommitted, int maxBatch, TimeSpan queueTimeout, ILogger log)
    {
        _store = store;
        _onCommitted = onCommitted;
        _log = log;
        _maxBatch = Math.Max(1, maxBatch);
        _queueTimeout = queueTimeout;
        var n = Math.Max(1, store.MaxConcurrentAppends);
        _partitions = new Channel<Pending>[n];
        _loops = new Task[n];
        for (var i = 0; i < n; i++)
        {
            _partitions[i] = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
            var reader = _partitions[i].Reader;
            _loops[i] = Task.Run(() => RunAsync(reader, _stop.Token));
        }
    }

    /// <summary>
    /// Appends a message. Completes after the batch holding it committed: with the stored (or original) message, or
    /// NotMember. Throws <see cref="StoreUnavailableException"/> when the store failed or did not answer within the
    /// queue timeout; nothing was then acknowledged (a retry with the same clientMsgId is safe either way).
    /// </summary>
    public Task<AppendResult> AppendAsync(AppendRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<AppendResult>(TaskCreationOptions.RunContinuationsAsynchronously), Stopwatch.GetTimestamp());
        var partition = _partitions[(int)((uint)StringComparer.Ordinal.GetHashCode(request.Conv) % (uint)_partitions.Length)];
        if (!partition.Writer.TryWrite(pending))
        {
            throw new StoreUnavailableException("the node is shutting down");
        }

        return WithDeadlineAsync(pending.Done.Task);
    }

    // A hung database (frozen, or partitioned away) holds a batch far longer than the driver's command timeout: the
    // timeout is followed by a cancel request that nobody answers. The sender hears "unavailable" at the deadline all
    // the same. A send still queued is then never tried (RunAsync skips it); one whose batch is in flight may yet
    // commit, and its retry returns that original, so "not acknowledged" stays true and the retry stays safe.
    private async Task<AppendResult> WithDeadlineAsync(Task<AppendResult> done)
    {
        try
        {
            return await done.WaitAsync(_queueTimeout);
        }
        catch (TimeoutException)
        {
            throw new StoreUnavailableException("the store did not answer in time; the message was not acknowledged");
        }
    }

    private async Task RunAsync(ChannelReader<Pending> reader, CancellationToken ct)
    {
        var batch = new List<Pending>(_maxBatch);
        var requests = new List<AppendRequest>(_maxBatch);
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                batch.Clear();
                requests.Clear();
                while (batch.Count < _maxBatch && reader.TryRead(out var p))
                {
                    // A send that waited too long (the store is slow or down) is refused before it is tried, so the
                    // sender hears "unavailable" within a bounded time and nothing was stored for it.
                    if (Stopwatch.GetElapsedTime(p.EnqueuedAt) > _queueTimeout)
                    {
                        p.Done.TrySetException(new StoreUnavailableException("the store did not answer in time; nothing was stored"));
                        continue;
                    }

                    batch.Add(p);
                    requests.Add(p.Request);
                }

                if (batch.Count > 0)
                {
                    await CommitAsync(batch, requests, reader, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        while (reader.TryRead(out var left))
        {
            left.Done.TrySetException(new StoreUnavailableException("the node is shutting down"));
        }
    }

    private async Task CommitAsync(List<Pending> batch, List<AppendRequest> requests, ChannelReader<Pending> reader, CancellationToken ct)
    {
        IReadOnlyList<AppendResult> results;
        try
        {
            results = await _store.AppendBatchAsync(requests, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var error = e as StoreUnavailableException ?? new StoreUnavailableException("the store failed; nothing was stored", e);
            _log.LogWarning(e, "append batch of {Count} failed", batch.Count);
            foreach (var p in batch)
            {
                p.Done.TrySetException(error);
            }

            // Everything queued behind a failed batch would most likely fail too; answer it now instead of making
            // each sender wait for its own timeout.
            while (reader.TryRead(out var queued))
            {
                queued.Done.TrySetException(error);
            }

            return;
        }

        try
        {
            _onCommitted(results);
        }
        catch (Exception e)
        {
            // The batch is committed whatever happens to the announcement: members heal from the store.
            _log.LogError(e, "announcing a committed batch failed");
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Done.TrySetResult(results[i]);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var p in _partitions)
        {
            p.Writer.TryComplete();
        }

        await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stop.CancelAsync();
        _stop.Dispose();
    }
}
