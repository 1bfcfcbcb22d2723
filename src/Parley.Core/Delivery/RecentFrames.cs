namespace Parley.Delivery;

/// <summary>
/// The newest message frames of one conversation, a contiguous run of seqs, so that a connection a few messages behind
/// (a reconnect, a storm of them) is caught up from memory instead of the store. Not thread-safe: its route's work runs
/// one item at a time.
/// </summary>
/// <remarks>
/// Only frames of committed messages are added (from the bus, whose message events are published after the commit, or
/// from store reads), so a frame served from here is byte for byte what a store read would have produced.
/// </remarks>
internal sealed class RecentFrames(int capacity)
{
    private readonly ReadOnlyMemory<byte>[] _frames = new ReadOnlyMemory<byte>[capacity];
    private long _first = 1;
    private long _last;

    /// <summary>True when every seq in (<paramref name="after"/>, <paramref name="through"/>] is held.</summary>
    public bool Covers(long after, long through) => _last >= _first && after + 1 >= _first && through <= _last;

    /// <summary>The frame of <paramref name="seq"/>; only for seqs <see cref="Covers"/> vouched for.</summary>
    public ReadOnlyMemory<byte> this[long seq] => _frames[seq % _frames.Length];

    /// <summary>
    /// Adds the frame of <paramref name="seq"/>: the next seq extends the run (dropping the oldest when full), a seq
    /// already held or older is ignored, and a later one after a gap starts a new run.
    /// </summary>
    public void Add(long seq, ReadOnlyMemory<byte> frame)
    {
        if (_last >= _first && seq <= _last)
        {
            return;
        }

        if (_last < _first || seq != _last + 1)
        {
            _first = seq;
        }
        else if (seq - _first >= _frames.Length)
        {
            _first++;
        }

        _last = seq;
        _frames[seq % _frames.Length] = frame;
    }
}
