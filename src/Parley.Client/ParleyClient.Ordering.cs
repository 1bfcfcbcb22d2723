using Parley.Protocol;

namespace Parley.Client;

/// <summary>Exactly once, in order: dedupe by (conv, seq), hold early arrivals, fill gaps from history.</summary>
public sealed partial class ParleyClient
{
    private async Task OnMessageAsync(MessageDto m, CancellationToken ct)
    {
        var cursor = _cursors.GetOrAdd(m.Conv, m.Seq - 1);
        if (m.Seq <= cursor)
        {
            return;
        }

        if (m.Seq == cursor + 1)
        {
            Deliver(m);
            DeliverEarly(m.Conv);
            return;
        }

        // A seq jumped: keep this one aside and read the missing range through history.
        Early(m.Conv)[m.Seq] = m;
        await FillAsync(m.Conv, m.Seq - 1, ct);
    }

    private Task OnGapAsync(string conv, long fromSeq, long toSeq, CancellationToken ct)
    {
        _cursors.TryAdd(conv, fromSeq - 1);
        return FillAsync(conv, toSeq, ct);
    }

    /// <summary>Reads history after the cursor up to <paramref name="upTo"/> and delivers it in order.</summary>
    private async Task FillAsync(string conv, long upTo, CancellationToken ct)
    {
        try
        {
            while (_cursors.TryGetValue(conv, out var cursor) && cursor < upTo)
            {
                var page = await GetHistoryAsync(conv, after: cursor, before: upTo + 1, limit: ProtocolRules.MaxHistoryLimit, ct);
                foreach (var m in page.Messages)
                {
                    if (m.Seq == _cursors[conv] + 1)
                    {
                        Deliver(m);
                    }
                }

                if (page.Messages.Count == 0 || !page.HasMore)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or ParleyClientException or TaskCanceledException)
        {
            // Left as is: the next message or the next resume (from the cursor) retries.
        }

        DeliverEarly(conv);
    }

    private SortedDictionary<long, MessageDto> Early(string conv)
    {
        if (!_early.TryGetValue(conv, out var early))
        {
            _early[conv] = early = [];
        }

        return early;
    }

    private void DeliverEarly(string conv)
    {
        if (!_early.TryGetValue(conv, out var early))
        {
            return;
        }

        while (early.Count > 0)
        {
            var (seq, m) = early.First();
            var cursor = _cursors[conv];
            if (seq <= cursor)
            {
                early.Remove(seq);
            }
            else if (seq == cursor + 1)
            {
                early.Remove(seq);
                Deliver(m);
            }
            else
            {
                break;
            }
        }
    }

    private void Deliver(MessageDto m)
    {
        _cursors[m.Conv] = m.Seq;
        if (_options.AutoDelivered)
        {
            _deliveredDirty[m.Conv] = m.Seq;
        }

        MessageReceived?.Invoke(m);
    }
}
