namespace Parley.Delivery;

/// <summary>
/// Coalesces concurrent keyed store reads into few batched queries: a read joins the next batch, and at most a fixed
/// number of batches run at once, so a burst of hellos (a reconnect storm) queues here, costing the store one query
/// per batch, instead of exhausting its connection pool.
/// </summary>
/// <remarks>
/// A batch starts only after every read in it was requested, so it sees everything committed before any of them was
/// made: the hello's "bind first, read the heads after" ordering holds for coalesced reads too. A failed batch fails
/// only its own reads; later ones are tried afresh.
/// </remarks>
/// <typeparam name="TValue">The value read per key.</typeparam>
internal sealed class ReadCoalescer<TValue>
{
    private readonly Func<IReadOnlyCollection<string>, CancellationToken, Task<IReadOnlyDictionary<string, TValue>>> _read;
    private readonly int _maxConcurrent;
    private readonly int _maxKeys;
    private readonly Queue<Request> _queue = new();
    private int _running;

    /// <param name="read">Reads many keys at once; keys with no value are left out of its answer.</param>
    /// <param name="maxConcurrent">Batches that may run at once.</param>
    /// <param name="maxKeys">Keys per batch (a request larger than this still runs, alone).</param>
    public ReadCoalescer(Func<IReadOnlyCollection<string>, CancellationToken, Task<IReadOnlyDictionary<string, TValue>>> read, int maxConcurrent, int maxKeys)
    {
        _read = read;
        _maxConcurrent = Math.Max(1, maxConcurrent);
        _maxKeys = Math.Max(1, maxKeys);
    }

    /// <summary>Reads <paramref name="keys"/> in the next batch; the answer holds the keys that have a value.</summary>
    public Task<IReadOnlyDictionary<string, TValue>> ReadAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        if (keys.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<string, TValue>>(new Dictionary<string, TValue>(StringComparer.Ordinal));
        }

        var request = new Request(keys, new TaskCompletionSource<IReadOnlyDictionary<string, TValue>>(TaskCreationOptions.RunContinuationsAsynchronously));
        bool start;
        lock (_queue)
        {
            _queue.Enqueue(request);
            start = _running < _maxConcurrent;
            if (start)
            {
                _running++;
            }
        }

        if (start)
        {
            _ = Task.Run(RunAsync, CancellationToken.None);
        }

        return request.Done.Task.WaitAsync(ct);
    }

    private async Task RunAsync()
    {
        var batch = new List<Request>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            batch.Clear();
            keys.Clear();
            lock (_queue)
            {
                while (_queue.TryPeek(out var next) && (batch.Count == 0 || keys.Count + next.Keys.Count <= _maxKeys))
                {
                    _queue.Dequeue();
                    batch.Add(next);
                    keys.UnionWith(next.Keys);
                }

                if (batch.Count == 0)
                {
                    _running--;
                    return;
                }
            }

            try
            {
                var values = await _read(keys.ToList(), CancellationToken.None);
                foreach (var request in batch)
                {
                    var mine = new Dictionary<string, TValue>(request.Keys.Count, StringComparer.Ordinal);
                    foreach (var key in request.Keys)
                    {
                        if (values.TryGetValue(key, out var value))
                        {
                            mine[key] = value;
                        }
                    }

                    request.Done.TrySetResult(mine);
                }
            }
            catch (Exception e)
            {
                foreach (var request in batch)
                {
                    request.Done.TrySetException(e);
                }
            }
        }
    }

    private sealed record Request(IReadOnlyCollection<string> Keys, TaskCompletionSource<IReadOnlyDictionary<string, TValue>> Done);
}
