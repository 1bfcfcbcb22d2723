using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Parley.Diagnostics;

namespace Parley.Delivery;

/// <summary>
/// Group commit: requests that arrive while a commit is in flight are collected and committed together in one store
/// transaction, so durability costs one flush per batch rather than per request. Requests are partitioned by key over
/// a fixed number of writer loops; one key always uses the same loop, so its commits, and the callbacks announcing
/// them, happen in submission order. Used for message appends (keyed by conversation) and watermark raises.
/// </summary>
/// <typeparam name="TRequest">One request.</typeparam>
/// <typeparam name="TResult">Its result.</typeparam>
public sealed class GroupCommitter<TRequest, TResult> : IAsyncDisposable
{
    private sealed record Pending(TRequest Request, TaskCompletionSource<TResult> Done, long EnqueuedAt);

    private readonly Func<IReadOnlyList<TRequest>, CancellationToken, Task<IReadOnlyList<TResult>>> _commit;
    private readonly Func<TRequest, string> _key;
    private readonly Action<IReadOnlyList<TResult>>? _onCommitted;
    private readonly ILogger _log;
    private readonly int _maxBatch;
    private readonly TimeSpan _queueTimeout;
    private readonly Channel<Pending>[] _partitions;
    private readonly Task[] _loops;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Creates the committer and starts its loops.</summary>
    /// <param name="partitions">Writer loops (commits that may run at once).</param>
    /// <param name="key">The partition key of a request; requests with one key commit in submission order.</param>
    /// <param name="commit">Commits a batch atomically, returning one result per request in order, or throws.</param>
    /// <param name="onCommitted">Called in commit order on the writer loop right after a batch committed, before the submitters hear of it.</param>
    /// <param name="maxBatch">Most requests per commit.</param>
    /// <param name="queueTimeout">A request still queued after this long is refused (unavailable) without being tried.</param>
    /// <param name="log">Where failures are logged.</param>
    public GroupCommitter(
        int partitions,
        Func<TRequest, string> key,
        Func<IReadOnlyList<TRequest>, CancellationToken, Task<IReadOnlyList<TResult>>> commit,
        Action<IReadOnlyList<TResult>>? onCommitted,
        int maxBatch,
        TimeSpan queueTimeout,
        ILogger log)
    {
        _key = key;
        _commit = commit;
        _onCommitted = onCommitted;
        _log = log;
        _maxBatch = Math.Max(1, maxBatch);
        _queueTimeout = queueTimeout;
        var n = Math.Max(1, partitions);
        _partitions = new Channel<Pending>[n];
        _loops = new Task[n];
        for (var i = 0; i < n; i++)
        {
            _partitions[i] = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
            var reader = _partitions[i].Reader;
            _loops[i] = Task.Run(() => RunAsync(reader, _stop.Token));
        }
    }

    /// <summary>How long requests waited for their batch and batches took to commit, since start (or the last reset).</summary>
    public GroupCommitStats Stats { get; } = new();

    /// <summary>
    /// Submits a request. Completes after the batch holding it committed, with its result. Throws
    /// <see cref="StoreUnavailableException"/> when the store failed or did not answer within the queue timeout;
    /// nothing was then acknowledged (for messages, a retry with the same clientMsgId is safe either way).
    /// </summary>
    /// <remarks>
    /// The submitter's continuation runs on the writer loop as soon as its batch committed (the ack written, the
    /// connection's next frame read): no thread-pool hop per request, which measurably shortened the acked-send path
    /// on two cores. Continuations therefore must not block; nothing in Parley waits synchronously.
    /// </remarks>
    public Task<TResult> SubmitAsync(TRequest request)
    {
        var pending = new Pending(request, new TaskCompletionSource<TResult>(), Stopwatch.GetTimestamp());
        var partition = _partitions[(int)((uint)StringComparer.Ordinal.GetHashCode(_key(request)) % (uint)_partitions.Length)];
        if (!partition.Writer.TryWrite(pending))
        {
            throw new StoreUnavailableException("the node is shutting down");
        }

        return WithDeadlineAsync(pending.Done.Task);
    }

    // A hung database (frozen, or partitioned away) holds a batch far longer than the driver's command timeout: the
    // timeout is followed by a cancel request that nobody answers. The submitter hears "unavailable" at the deadline
    // all the same. A request still queued is then never tried (RunAsync skips it); one whose batch is in flight may
    // yet commit: a message's retry then returns that original, so "not acknowledged" stays true and the retry safe.
    private async Task<TResult> WithDeadlineAsync(Task<TResult> done)
    {
        try
        {
            return await done.WaitAsync(_queueTimeout);
        }
        catch (TimeoutException)
        {
            throw new StoreUnavailableException("the store did not answer in time; nothing was acknowledged");
        }
    }

    private async Task RunAsync(ChannelReader<Pending> reader, CancellationToken ct)
    {
        var batch = new List<Pending>(_maxBatch);
        var requests = new List<TRequest>(_maxBatch);
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
                    Stats.Wait.RecordSince(p.EnqueuedAt);
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

    private async Task CommitAsync(List<Pending> batch, List<TRequest> requests, ChannelReader<Pending> reader, CancellationToken ct)
    {
        IReadOnlyList<TResult> results;
        var started = Stopwatch.GetTimestamp();
        try
        {
            results = await _commit(requests, ct);
            Stats.Commit.RecordSince(started);
            Stats.BatchSize.RecordMicros(batch.Count);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var error = e as StoreUnavailableException ?? new StoreUnavailableException("the store failed; nothing was acknowledged: retry with the same clientMsgId", e);
            _log.LogWarning(e, "commit of a batch of {Count} failed", batch.Count);

            // Everything queued behind a failed batch would most likely fail too; answer it now instead of making
            // each sender wait for its own timeout. Taken before any sender is answered: an answer's continuation runs
            // inline and may submit again (a retry), and that request deserves an attempt of its own.
            while (reader.TryRead(out var queued))
            {
                batch.Add(queued);
            }

            foreach (var p in batch)
            {
                p.Done.TrySetException(error);
            }

            return;
        }

        try
        {
            _onCommitted?.Invoke(results);
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

/// <summary>
/// Timing of a <see cref="GroupCommitter{TRequest, TResult}"/>: for the node's diagnostics and the benchmark's account of
/// where an acknowledgement's time goes.
/// </summary>
public sealed class GroupCommitStats
{
    /// <summary>From a request's submission until its batch was taken for a commit.</summary>
    public LatencyHistogram Wait { get; } = new();

    /// <summary>Each successful commit, from the store call until its answer (the store's round trip, durability included).</summary>
    public LatencyHistogram Commit { get; } = new();

    /// <summary>Requests per successful commit. The values are request counts, not microseconds.</summary>
    public LatencyHistogram BatchSize { get; } = new();
}
