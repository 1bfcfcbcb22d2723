using System.Text;
using Parley.Protocol;

namespace Parley.Delivery;

/// <summary>
/// Presence news on its way to the bus, per conversation. The first "online" in a quiet conversation is published at
/// once, as an event of its own; "online" news that follows within the window is gathered and published as one
/// <see cref="BusEventKind.PresenceBatch"/> event when the window ends, which starts another window. A conversation
/// whose window ends with nothing gathered is quiet again. "Offline" news is never held: it leaves at once, together
/// with anything gathered before it. A room's members coming back together then cost the broker and every node one
/// event per window instead of one per member, and a lone change is never delayed.
/// </summary>
/// <remarks>
/// Order is kept per conversation: every publish of a conversation's news happens under one lock, in the order the news
/// was added, and the bus keeps a publisher's order per topic. Across nodes: the hub calls <see cref="Flush"/> for a
/// closing connection's conversations before the presence store hears of the close, so news gathered here about a
/// user has left before any other node can have newer news of them to publish (that needs this connection gone).
/// Publishing never blocks (<see cref="IMessageBus.Publish"/>).
/// </remarks>
internal sealed class PresenceOutbox
{
    private readonly Dictionary<string, List<PresenceNews>?> _open = new(StringComparer.Ordinal);
    private readonly Action<string, PresenceNews> _publishOne;
    private readonly Action<string, IReadOnlyList<PresenceNews>> _publishBatch;
    private readonly TimeSpan _window;

    /// <param name="window">How long news after a conversation's first is gathered; zero publishes every piece at once.</param>
    /// <param name="publishOne">Publishes one piece of news of a conversation (called under the outbox's lock).</param>
    /// <param name="publishBatch">Publishes gathered news of a conversation, in order (called under the outbox's lock).</param>
    public PresenceOutbox(TimeSpan window, Action<string, PresenceNews> publishOne, Action<string, IReadOnlyList<PresenceNews>> publishBatch)
    {
        _window = window;
        _publishOne = publishOne;
        _publishBatch = publishBatch;
    }

    /// <summary>Publishes <paramref name="news"/> to <paramref name="conv"/> now, or with the conversation's next batch.</summary>
    public void Add(string conv, PresenceNews news)
    {
        lock (_open)
        {
            if (_window <= TimeSpan.Zero)
            {
                _publishOne(conv, news);
                return;
            }

            if (!news.Online)
            {
                // Never held, and nothing gathered before it may follow it: out together, now. The window stays open.
                if (_open.TryGetValue(conv, out var before) && before is not null)
                {
                    before.Add(news);
                    _open[conv] = null;
                    _publishBatch(conv, before);
                }
                else
                {
                    _publishOne(conv, news);
                }

                return;
            }

            if (_open.TryGetValue(conv, out var gathered))
            {
                if (gathered is null)
                {
                    _open[conv] = gathered = [];
                }

                gathered.Add(news);
                return;
            }

            _open[conv] = null;
            _publishOne(conv, news);
        }

        CloseLater(conv);
    }

    /// <summary>Publishes what is gathered for <paramref name="conv"/> now, if anything; its window stays open.</summary>
    public void Flush(string conv)
    {
        lock (_open)
        {
            if (_open.TryGetValue(conv, out var gathered) && gathered is not null)
            {
                _open[conv] = null;
                _publishBatch(conv, gathered);
            }
        }
    }

    private void CloseLater(string conv) =>
        _ = Task.Delay(_window).ContinueWith(static (_, state) =>
        {
            var (outbox, conv) = ((PresenceOutbox, string))state!;
            outbox.Close(conv);
        }, (this, conv), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

    private void Close(string conv)
    {
        lock (_open)
        {
            if (!_open.TryGetValue(conv, out var gathered))
            {
                return;
            }

            if (gathered is null)
            {
                _open.Remove(conv);
                return;
            }

            _open[conv] = null;
            _publishBatch(conv, gathered);
        }

        CloseLater(conv);
    }
}

/// <summary>One user's presence changing.</summary>
internal readonly record struct PresenceNews(string UserId, bool Online)
{
    /// <summary>
    /// The body of a <see cref="BusEventKind.PresenceBatch"/> event: one line per piece of news, <c>1</c> (online) or
    /// <c>0</c> (offline) followed by the user id (ids never contain a line break).
    /// </summary>
    public static byte[] Encode(IReadOnlyList<PresenceNews> batch)
    {
        var text = new StringBuilder(batch.Count * 20);
        foreach (var news in batch)
        {
            text.Append(news.Online ? '1' : '0').Append(news.UserId).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>
    /// Reads a batch made by <see cref="Encode"/>. A line that is not a status digit and a valid id is skipped, so a
    /// malformed event from another node costs that news, never the node.
    /// </summary>
    public static List<PresenceNews> Decode(ReadOnlySpan<byte> body)
    {
        var result = new List<PresenceNews>();
        while (!body.IsEmpty)
        {
            var end = body.IndexOf((byte)'\n');
            var line = end < 0 ? body : body[..end];
            body = end < 0 ? [] : body[(end + 1)..];
            if (line.Length < 2 || (line[0] != '0' && line[0] != '1'))
            {
                continue;
            }

            var userId = Encoding.UTF8.GetString(line[1..]);
            if (ProtocolRules.IsValidId(userId))
            {
                result.Add(new PresenceNews(userId, line[0] == '1'));
            }
        }

        return result;
    }
}
