using System.Globalization;

namespace Parley.Chaos;

/// <summary>
/// Offers a steady send rate: every 100 ms, a tenth of the per-second rate, each from a random user to one of its
/// conversations. Users send whether or not they are connected (the SDK queues), as real users type. Optionally
/// resends a share of acked messages with the same clientMsgId, as a client that lost the ack would.
/// </summary>
public sealed class Driver(Workload workload, double ratePerSecond, Func<int, bool> isSender)
{
    private readonly List<Task> _inFlight = [];
    private readonly Random _random = new(42);
    private int _counter;

    /// <summary>The share of acked sends to retry with the same clientMsgId (0 to 1); changed at run time by faults.</summary>
    public double RetryShare { get; set; }

    /// <summary>Sends until <paramref name="stop"/> fires.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var senders = Enumerable.Range(0, workload.Users.Count).Where(isSender).ToList();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        var owed = 0.0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                owed += ratePerSecond / 10;
                for (; owed >= 1; owed--)
                {
                    var user = senders[_random.Next(senders.Count)];
                    var convs = workload.ConvsOf[user];
                    var conv = convs[_random.Next(convs.Count)];
                    lock (_inFlight)
                    {
                        _inFlight.Add(SendOneAsync(user, conv, _random.NextDouble() < RetryShare));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Waits until every send made so far is acked (or <paramref name="timeout"/> passes).</summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        Task[] all;
        lock (_inFlight)
        {
            all = [.. _inFlight];
        }

        await Task.WhenAll(all).WaitAsync(timeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Sends from each of <paramref name="users"/> to <paramref name="conv"/> at <paramref name="perUser"/> per second, with bodies padded to <paramref name="bodyChars"/>.</summary>
    public async Task BlastAsync(string conv, IReadOnlyList<int> users, double perUser, int bodyChars, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / perUser));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                lock (_inFlight)
                {
                    _inFlight.AddRange(users.Select(u => SendOneAsync(u, conv, retry: false, bodyChars)));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendOneAsync(int user, string conv, bool retry, int bodyChars = 0)
    {
        var client = workload.Clients[user];
        var n = Interlocked.Increment(ref _counter);
        var cid = $"c{n.ToString(CultureInfo.InvariantCulture)}u{user.ToString(CultureInfo.InvariantCulture)}";
        var body = $"chaos {n.ToString(CultureInfo.InvariantCulture)} from {client.User.Username}";
        body = body.PadRight(Math.Max(body.Length, bodyChars), '.');
        var ledger = workload.Ledger;
        var send = new SendRecord(conv, cid, user, body, ledger.Now, client.Sdk.IsConnected);
        ledger.Add(send);
        workload.Timeline.Sent(send.SentAt);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try
        {
            var ack = await client.Sdk.SendAsync(conv, body, cid, timeout.Token);
            send.Seq = ack.Seq;
            send.AckAt = ledger.Now;
            workload.Timeline.Acked(send.AckAt.Value);
            if (retry)
            {
                // The application never saw that ack: it sends the same clientMsgId again.
                await Task.Delay(TimeSpan.FromMilliseconds(200 + Random.Shared.Next(800)), CancellationToken.None);
                var again = await client.Sdk.SendAsync(conv, body, cid, timeout.Token);
                send.RetrySeq = again.Seq;
            }
        }
        catch (OperationCanceledException)
        {
            // Never acked: the checker reports it as unacked.
        }
        catch (Parley.Client.ParleyClientException)
        {
            // Refused for good (e.g. not a member): never acked; the checker counts it.
        }
    }
}
