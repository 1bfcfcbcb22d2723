using System.Collections.Concurrent;
using Parley.Client;
using Parley.Testing;

namespace Parley.Chaos;

/// <summary>
/// A workload user on the real SDK (reconnect, resume, resend until acked, dedupe, gap fill), recording what its
/// application would see: every message delivered, when connections dropped and synced again, latencies.
/// </summary>
public sealed class ChaosClient : IAsyncDisposable
{
    private readonly Dictionary<string, List<(long Seq, string? Cid)>> _view = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<double> _synced = new();
    private readonly ConcurrentQueue<(double At, string Reason)> _drops = new();
    private readonly Ledger _ledger;
    private readonly Timeline _timeline;
    private readonly Latencies _latencies;

    private ChaosClient(int index, TestUser user, ParleyClient client, Ledger ledger, Timeline timeline, Latencies latencies)
    {
        Index = index;
        User = user;
        Sdk = client;
        _ledger = ledger;
        _timeline = timeline;
        _latencies = latencies;
        client.MessageReceived += m =>
        {
            lock (_view)
            {
                if (!_view.TryGetValue(m.Conv, out var list))
                {
                    _view[m.Conv] = list = [];
                }

                list.Add((m.Seq, m.ClientMsgId));
            }

            if (_ledger.Find(m.Conv, m.ClientMsgId) is { } sent)
            {
                var now = _ledger.Now;
                _latencies.Add(now, (now - sent.SentAt) * 1000, resent: sent.FirstRefusalAt is not null);
            }
        };
        client.Synced += () => _synced.Enqueue(_ledger.Now);
        client.Disconnected += reason =>
        {
            var now = _ledger.Now;
            _drops.Enqueue((now, reason));
            _timeline.Dropped(now);
        };
        client.SendRefused += e =>
        {
            var now = _ledger.Now;
            _timeline.Refused(now);
            if (_ledger.Find(e.Conv, e.ClientMsgId) is { } send && send.FirstRefusalAt is null)
            {
                send.FirstRefusalAt = now;
                send.FirstRefusalCode = e.Code;
            }
        };
    }

    public int Index { get; }

    public TestUser User { get; }

    public ParleyClient Sdk { get; }

    /// <summary>Connection drops: when (run seconds) and the SDK's reason.</summary>
    public IReadOnlyCollection<(double At, string Reason)> Drops => _drops;

    /// <summary>What the application received, per conversation, in delivery order.</summary>
    public Dictionary<string, List<(long Seq, string? Cid)>> View()
    {
        lock (_view)
        {
            return _view.ToDictionary(kv => kv.Key, kv => kv.Value.ToList(), StringComparer.Ordinal);
        }
    }

    /// <summary>The first sync at or after <paramref name="t"/> (run seconds), or null.</summary>
    public double? SyncedAfter(double t) => _synced.Where(s => s >= t).Order().Select(s => (double?)s).FirstOrDefault();

    /// <summary>The first drop at or after <paramref name="t"/>, or null.</summary>
    public double? DroppedAfter(double t) => _drops.Where(d => d.At >= t).Select(d => (double?)d.At).Order().FirstOrDefault();

    public static async Task<ChaosClient> ConnectAsync(int index, TestUser user, Uri baseUri, Ledger ledger, Timeline timeline, Latencies latencies)
    {
        var sdk = new ParleyClient(new ParleyClientOptions { BaseUri = baseUri, TokenProvider = _ => Task.FromResult(user.Token) });
        var client = new ChaosClient(index, user, sdk, ledger, timeline, latencies);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await sdk.ConnectAsync(timeout.Token);
        return client;
    }

    public ValueTask DisposeAsync() => Sdk.DisposeAsync();
}

/// <summary>End-to-end delivery latencies (send call to delivery at a member), by run second.</summary>
public sealed class Latencies
{
    private readonly ConcurrentQueue<(double At, double Ms, bool Resent)> _samples = new();

    /// <summary>Records a delivery at <paramref name="at"/>, <paramref name="ms"/> after the first send call; <paramref name="resent"/>: the send was refused at least once and sent again.</summary>
    public void Add(double at, double ms, bool resent = false) => _samples.Enqueue((at, ms, resent));

    /// <summary>The p99 of deliveries made in [from, to), optionally only of sends refused and resent (true) or never refused (false); null without samples.</summary>
    public double? P99(double from, double to, bool? resent = null) => Percentile.Of(Window(from, to, resent).Select(s => s.Ms), 0.99);

    /// <summary>How many deliveries <see cref="P99"/> would look at.</summary>
    public int Count(double from, double to, bool? resent = null) => Window(from, to, resent).Count();

    private IEnumerable<(double At, double Ms, bool Resent)> Window(double from, double to, bool? resent) =>
        _samples.Where(s => s.At >= from && s.At < to && (resent is null || s.Resent == resent));
}

/// <summary>Nearest-rank percentiles.</summary>
public static class Percentile
{
    public static double? Of(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(p * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}
