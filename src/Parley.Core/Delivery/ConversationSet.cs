namespace Parley.Delivery;

/// <summary>
/// The conversations one session receives: a small set safe for concurrent use. Most sessions hold a handful of
/// conversations and a node holds thousands of idle sessions, so up to <see cref="SmallLimit"/> members live in an
/// array under a lock (a few dozen bytes, against hundreds for a concurrent dictionary); past that, a hash set.
/// </summary>
internal sealed class ConversationSet
{
    private const int SmallLimit = 16;

    // The set itself is its monitor: a lock object of its own would cost every session 40 bytes. Nothing else locks on it.
    private object Gate => this;
    private string[] _small = [];
    private int _count;
    private HashSet<string>? _large;

    /// <summary>True when <paramref name="convId"/> is in the set.</summary>
    public bool Contains(string convId)
    {
        lock (Gate)
        {
            return _large?.Contains(convId) ?? IndexOf(convId) >= 0;
        }
    }

    /// <summary>Adds <paramref name="convId"/>; false when it was there already.</summary>
    public bool TryAdd(string convId)
    {
        lock (Gate)
        {
            if (_large is not null)
            {
                return _large.Add(convId);
            }

            if (IndexOf(convId) >= 0)
            {
                return false;
            }

            if (_count == SmallLimit)
            {
                _large = new HashSet<string>(_small, StringComparer.Ordinal) { convId };
                _small = [];
                _count = 0;
                return true;
            }

            if (_count == _small.Length)
            {
                Array.Resize(ref _small, Math.Min(SmallLimit, Math.Max(2, _count * 2)));
            }

            _small[_count++] = convId;
            return true;
        }
    }

    /// <summary>Removes <paramref name="convId"/>; false when it was not there.</summary>
    public bool TryRemove(string convId)
    {
        lock (Gate)
        {
            if (_large is not null)
            {
                return _large.Remove(convId);
            }

            var i = IndexOf(convId);
            if (i < 0)
            {
                return false;
            }

            _small[i] = _small[--_count];
            _small[_count] = null!;
            return true;
        }
    }

    /// <summary>A copy of the members at this moment.</summary>
    public string[] Snapshot()
    {
        lock (Gate)
        {
            return _large is not null ? [.. _large] : _small.AsSpan(0, _count).ToArray();
        }
    }

    private int IndexOf(string convId)
    {
        for (var i = 0; i < _count; i++)
        {
            if (string.Equals(_small[i], convId, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
