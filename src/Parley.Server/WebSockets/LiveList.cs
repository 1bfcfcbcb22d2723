using System.Buffers;

namespace Parley.Server.WebSockets;

/// <summary>An item of a <see cref="LiveList{T}"/>: its two links, kept in the item itself.</summary>
internal interface ILiveLinked<T>
    where T : class, ILiveLinked<T>
{
    T? LivePrev { get; set; }

    T? LiveNext { get; set; }
}

/// <summary>
/// A thread-safe intrusive list of open connections: joining costs an item two references and no node object, which
/// matters at tens of thousands of idle sockets. An item is in at most one list at a time.
/// </summary>
internal sealed class LiveList<T>
    where T : class, ILiveLinked<T>
{
    private readonly Lock _lock = new();
    private T? _head;
    private int _count;
    private bool _closed;

    /// <summary>Adds <paramref name="item"/>; false once the list was closed (<see cref="Close"/>).</summary>
    public bool Add(T item)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            item.LiveNext = _head;
            if (_head is not null)
            {
                _head.LivePrev = item;
            }

            _head = item;
            _count++;
            return true;
        }
    }

    /// <summary>Removes <paramref name="item"/> when it is in the list.</summary>
    public void Remove(T item)
    {
        lock (_lock)
        {
            if (item.LivePrev is { } prev)
            {
                prev.LiveNext = item.LiveNext;
            }
            else if (_head == item)
            {
                _head = item.LiveNext;
            }
            else
            {
                return;
            }

            if (item.LiveNext is { } next)
            {
                next.LivePrev = item.LivePrev;
            }

            item.LivePrev = item.LiveNext = null;
            _count--;
        }
    }

    /// <summary>Calls <paramref name="visit"/> for every item, outside the lock (on a snapshot), so a visit may add or remove.</summary>
    public void ForEach<TState>(Action<T, TState> visit, TState state)
    {
        T[] items;
        int n;
        lock (_lock)
        {
            items = ArrayPool<T>.Shared.Rent(Math.Max(1, _count));
            n = 0;
            for (var c = _head; c is not null && n < items.Length; c = c.LiveNext)
            {
                items[n++] = c;
            }
        }

        try
        {
            for (var i = 0; i < n; i++)
            {
                visit(items[i], state);
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(items, clearArray: true);
        }
    }

    /// <summary>Refuses further <see cref="Add"/>s.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
        }
    }
}
