namespace Parley.Delivery;

/// <summary>
/// The newest message frames of one conversation, a contiguous run of seqs, so that a connection a few messages behind
/// (a reconnect, a storm of them) is caught up from memory instead of the store. Bounded by a count and by bytes (a
/// room of 64 KiB messages keeps few of them). Not thread-safe: its route's work runs one item at a time.
/// </summary>
/// <remarks>
/// Only frames of committed messages are added (from the bus, whose message events are published after the commit, or
/// from store reads), so a frame served from here is byte for byte what a store read would have produced.
/// </remarks>
internal sealed class RecentFrames(int capacity, int maxBytes)
{
    private readonly ReadOnlyMemory<byte>[] _frames = new ReadOnlyMemory<byte>[capacity];
    private long _first = 1;
    private long _last;
    private long _bytes;

    /// <summary>True when every seq in (<paramref name="after"/>, <paramref name="through"/>] is held.</summary>
    public bool Covers(long after, long through) => _last >= _first && after + 1 >= _first && through <= _last;

    /// <summary>The frame of <paramref name="seq"/>; only for seqs <see cref="Covers"/> vouched for.</summary>
    public ReadOnlyMemory<byte> this[long seq] => _frames[seq % _frames.Length];

    /// <summary>
    /// Adds the frame of <paramref name="seq"/>: the next seq extends the run (dropping the oldest past the count or byte
    /// bound), a seq already held or older is ignored, and a later one after a gap starts a new run.
    /// </summary>
    public void Add(long seq, ReadOnlyMemory<byte> frame)
    {
        var empty = _last < _first;
        if (!empty && seq <= _last)
        {
            return;
        }

        if (!empty && seq != _last + 1)
        {
            // A gap: the old run is of no use for catch-ups that must reach the new seq.
            while (_last >= _first)
            {
                DropOldest();
            }
        }

        if (_last < _first)
        {
            _first = seq;
        }
        else if (_last - _first + 1 == _frames.Length)
        {
            // Full: the oldest frame's slot is the one the new seq takes.
            DropOldest();
        }

        _last = seq;
        _frames[seq % _frames.Length] = frame;
        _bytes += frame.Length;
        while (_last > _first && _bytes > maxBytes)
        {
            DropOldest();
        }
    }

    private void DropOldest()
    {
        ref var slot = ref _frames[_first % _frames.Length];
        _bytes -= slot.Length;
        slot = default;
        _first++;
    }
}
