using System.Text.Json;
using Parley.Testing;

namespace Parley.Chaos;

/// <summary>The checker's counts for one run.</summary>
public sealed record Verdict(int Sent, int Acked, int Stored, int Unacked, int Lost, int Duplicated, int Unexpected, int OrderViolations)
{
    public bool Clean => Lost == 0 && Duplicated == 0 && Unexpected == 0 && OrderViolations == 0;
}

/// <summary>
/// Compares the store (read back through REST history) with what was sent and acked, and with every client's view:
/// lost = an acked message missing from the store or from a member's view; duplicated = a message stored twice, a
/// retry answered with another seq, or a (conv, seq) delivered twice to one application; unexpected = stored or
/// delivered but never sent (or not what was sent); order = a delivered seq that is not the previous one plus one.
/// </summary>
public static class Checker
{
    public static async Task<(Verdict Verdict, List<string> Findings)> CheckAsync(Workload w, ApiClient api)
    {
        var findings = new List<string>();
        var stored = new Dictionary<string, Dictionary<long, JsonElement>>(StringComparer.Ordinal);
        int lost = 0, duplicated = 0, unexpected = 0, order = 0, storedCount = 0;
        foreach (var (conv, members) in w.Members)
        {
            var messages = await api.AllMessagesAsync(w.Users[members[0]], conv);
            storedCount += messages.Count;
            var bySeq = new Dictionary<long, JsonElement>();
            var keys = new HashSet<(string?, string?)>();
            foreach (var m in messages)
            {
                var seq = m.Long("seq");
                bySeq[seq] = m;
                if (!keys.Add((m.Str("from"), m.Str("clientMsgId"))))
                {
                    duplicated++;
                    Note(findings, $"stored twice: {conv} seq {seq} ({m.Str("clientMsgId")})");
                }

                var sent = w.Ledger.Find(conv, m.Str("clientMsgId"));
                if (sent is null || sent.Body != m.Str("body") || w.Users[sent.Sender].UserId != m.Str("from"))
                {
                    unexpected++;
                    Note(findings, $"stored but never sent: {conv} seq {seq} ({m.Str("clientMsgId")})");
                }
            }

            if (messages.Count > 0 && messages[^1].Long("seq") != messages.Count)
            {
                order++;
                Note(findings, $"store seqs of {conv} are not 1..{messages.Count}");
            }

            stored[conv] = bySeq;
        }

        var acked = w.Ledger.Sends.Where(s => s.Seq is not null).ToList();
        foreach (var s in acked)
        {
            if (!stored[s.Conv].TryGetValue(s.Seq!.Value, out var m) || m.Str("clientMsgId") != s.ClientMsgId)
            {
                lost++;
                Note(findings, $"acked but not stored: {s.Conv} seq {s.Seq} ({s.ClientMsgId})");
            }

            if (s.RetrySeq is { } retry && retry != s.Seq)
            {
                duplicated++;
                Note(findings, $"retry of {s.ClientMsgId} answered seq {retry}, first ack {s.Seq}");
            }
        }

        foreach (var client in w.Clients)
        {
            var view = client.View();
            foreach (var conv in w.ConvsOf[client.Index])
            {
                var got = view.TryGetValue(conv, out var list) ? list : [];
                var seen = new HashSet<long>();
                long previous = 0;
                foreach (var (seq, cid) in got)
                {
                    if (!seen.Add(seq))
                    {
                        duplicated++;
                        Note(findings, $"{client.User.Username} got {conv} seq {seq} twice");
                    }
                    else if (seq != previous + 1)
                    {
                        order++;
                        Note(findings, $"{client.User.Username} got {conv} seq {seq} after {previous}");
                    }

                    previous = Math.Max(previous, seq);
                    if (!stored[conv].TryGetValue(seq, out var m) || m.Str("clientMsgId") != cid)
                    {
                        unexpected++;
                        Note(findings, $"{client.User.Username} got {conv} seq {seq} ({cid}) that the store does not hold");
                    }
                }

                foreach (var s in acked.Where(s => s.Conv == conv && !seen.Contains(s.Seq!.Value)))
                {
                    lost++;
                    Note(findings, $"{client.User.Username} on {client.Sdk.NodeId} never got {conv} seq {s.Seq}");
                }
            }
        }

        var sends = w.Ledger.Sends;
        var verdict = new Verdict(sends.Count, acked.Count, storedCount, sends.Count - acked.Count, lost, duplicated, unexpected, order);
        return (verdict, findings);
    }

    /// <summary>Waits until every client's cursor reached its conversations' store heads; false on timeout.</summary>
    public static async Task<bool> CaughtUpAsync(Workload w, ApiClient api, TimeSpan timeout)
    {
        var heads = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var user in w.Members.Values.Select(m => m[0]).Distinct())
        {
            var answer = await OkAsync(() => api.ConversationsAsync(w.Users[user]));
            foreach (var c in answer.Body.EnumerateArray())
            {
                heads[c.Str("id")!] = c.Long("lastSeq");
            }
        }

        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var behind = w.Clients.Count(c => w.ConvsOf[c.Index].Any(conv => (c.Sdk.Cursors.TryGetValue(conv, out var at) ? at : 0) < heads.GetValueOrDefault(conv)));
            if (behind == 0)
            {
                return true;
            }

            await Task.Delay(500);
        }

        return false;
    }

    // The checker reads through nginx like a client; a refused read is retried (and logged), never silently skipped.
    private static async Task<ApiAnswer> OkAsync(Func<Task<ApiAnswer>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            var answer = await call();
            if (answer.Status == System.Net.HttpStatusCode.OK)
            {
                return answer;
            }

            RunContext.Log($"checker read answered {(int)answer.Status}: {answer.Body.ToString()[..Math.Min(200, answer.Body.ToString().Length)]}");
            if (attempt == 10)
            {
                throw new InvalidOperationException($"checker read refused {attempt} times: {answer.Status}");
            }

            await Task.Delay(1000);
        }
    }

    private static void Note(List<string> findings, string finding)
    {
        if (findings.Count < 40)
        {
            findings.Add(finding);
        }
    }
}
