using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Parley.Client;
using Parley.Testing;

namespace Parley.Cluster.Tests;

/// <summary>An SDK client (connected through nginx) that records what it received, its acks and when it synced.</summary>
public sealed class SdkRecorder : IAsyncDisposable
{
    private readonly ConcurrentQueue<long> _synced = new();
    private readonly List<long> _received = [];
    private readonly string _room;

    private SdkRecorder(TestUser user, ParleyClient client, string room)
    {
        User = user;
        Client = client;
        _room = room;
        client.MessageReceived += m =>
        {
            if (m.Conv == _room)
            {
                lock (_received)
                {
                    _received.Add(m.Seq);
                }
            }
        };
        client.Synced += () => _synced.Enqueue(Stopwatch.GetTimestamp());
    }

    public TestUser User { get; }

    public ParleyClient Client { get; }

    public ConcurrentBag<SendAck> Acks { get; } = [];

    public IReadOnlyList<long> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<SdkRecorder> ConnectAsync(Uri baseUri, TestUser user, string room)
    {
        var client = new ParleyClient(new ParleyClientOptions { BaseUri = baseUri, TokenProvider = _ => Task.FromResult(user.Token) });
        var recorder = new SdkRecorder(user, client, room);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await client.ConnectAsync(timeout.Token);
        return recorder;
    }

    public List<long> ReceivedSeqs() => [.. Received];

    public long? SyncedAfter(long timestamp) => _synced.Where(t => t > timestamp).Select(t => (long?)t).FirstOrDefault();

    /// <summary>Sends one message per <paramref name="pace"/>, each awaited until acked, until cancelled.</summary>
    public async Task SendLoopAsync(string conv, TimeSpan pace, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var cid = $"{User.Username}-{i.ToString(CultureInfo.InvariantCulture)}";
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(25));
            Acks.Add(await Client.SendAsync(conv, $"message {i} from {User.Username}", cid, timeout.Token));
            await Task.Delay(pace, CancellationToken.None);
        }
    }

    public ValueTask DisposeAsync() => Client.DisposeAsync();
}
