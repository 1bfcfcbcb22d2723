namespace Parley.Presence.Redis;

/// <summary>
/// An async reader/writer gate: connects and disconnects enter shared, a reconcile enters exclusive so the snapshot
/// of the node's connections it writes cannot race a connect or disconnect in flight. An exclusive request blocks
/// new shared entries at once (writer preference) and waits for the ones inside to leave. One exclusive holder at a
/// time is the caller's duty (only the heartbeat loop takes it).
/// </summary>
internal sealed class SharedExclusiveGate
{
    private readonly Lock _lock = new();
    private int _shared;
    private TaskCompletionSource? _exclusiveReleased;
    private TaskCompletionSource? _sharedDrained;

    public async Task<Releaser> EnterSharedAsync(CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_exclusiveReleased is null)
                {
                    _shared++;
                    return new Releaser(this, exclusive: false);
                }

                wait = _exclusiveReleased.Task;
            }

            await wait.WaitAsync(ct);
        }
    }

    public async Task<Releaser> EnterExclusiveAsync(CancellationToken ct)
    {
        Task drained;
        lock (_lock)
        {
            _exclusiveReleased = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_shared == 0)
            {
                return new Releaser(this, exclusive: true);
            }

            _sharedDrained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _sharedDrained.Task;
        }

        try
        {
            await drained.WaitAsync(ct);
        }
        catch
        {
            ExitExclusive();
            throw;
        }

        return new Releaser(this, exclusive: true);
    }

    private void ExitShared()
    {
        lock (_lock)
        {
            if (--_shared == 0)
            {
                _sharedDrained?.TrySetResult();
            }
        }
    }

    private void ExitExclusive()
    {
        TaskCompletionSource? released;
        lock (_lock)
        {
            released = _exclusiveReleased;
            _exclusiveReleased = null;
            _sharedDrained = null;
        }

        released?.TrySetResult();
    }

    /// <summary>Leaves the gate on dispose.</summary>
    public readonly struct Releaser(SharedExclusiveGate gate, bool exclusive) : IDisposable
    {
        public void Dispose()
        {
            if (exclusive)
            {
                gate.ExitExclusive();
            }
            else
            {
                gate.ExitShared();
            }
        }
    }
}
