using System.Collections.Concurrent;
using System.Diagnostics;
using Parley.Store.Postgres;
using Parley.Testing;
using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>
/// The PostgreSQL store while its server stops or crashes under load: it fails fast with
/// <see cref="StoreUnavailableException"/>, never keeps half a batch, loses no acknowledged message, and works again
/// once the server is back. These tests stop their own server, never the shared one.
/// </summary>
[Trait("Tier", "Store")]
public sealed class PostgresStoreOutage(PostgresStoreOutage.PrivateServer fixture) : IClassFixture<PostgresStoreOutage.PrivateServer>, IAsyncLifetime
{
    private const int BatchSize = 20;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(90));
    private readonly User _alice = NewUser("alice");
    private PostgresChatStore _store = null!;

    private CancellationToken Ct => _timeout.Token;

    private PostgresServer Server => fixture.Server;

    public async Task InitializeAsync()
    {
        var connectionString = await Server.CreateSchemaAsync("postgres", "outage_" + Guid.NewGuid().ToString("N")[..20]);
        _store = new PostgresChatStore(new PostgresStoreOptions { ConnectionString = connectionString });
        await _store.InitializeAsync(Ct);
        await _store.CreateUserAsync(_alice, Ct);
        await _store.CreateRoomAsync("r1", _alice.Id, "r1", false, T0, Ct);
        await _store.CreateRoomAsync("r2", _alice.Id, "r2", false, T0, Ct);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        if (!Server.IsRunning)
        {
            await Server.RestartAsync();
        }

        _timeout.Dispose();
    }

    [Fact]
    public async Task A_stopped_server_fails_appends_fast_and_they_work_again_after_restart()
    {
        var load = new Load(_store, _alice);
        await load.RunUntilAsync(acked: 10, Ct);

        await Server.StopAsync();
        var probe = Batch("probe");
        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.AppendBatchAsync(probe, Ct));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        clock.Restart();
        Assert.False(await _store.PingAsync(Ct));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.ReadMessagesAsync("r1", new HistoryQuery(null, null, 10), Ct));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        await load.StopAfterFailuresAsync(Ct);

        await Server.RestartAsync();

        Assert.True(await _store.PingAsync(Ct));
        var retried = await _store.AppendBatchAsync(probe, Ct);
        Assert.All(retried, r => Assert.Equal(AppendStatus.Stored, r.Status));
        await load.AssertNothingHalfStoredAsync(Ct);
    }

    [Fact]
    public async Task A_crashed_server_loses_no_acknowledged_message()
    {
        var load = new Load(_store, _alice);
        await load.RunUntilAsync(acked: 10, Ct);

        Server.Kill();
        await load.StopAfterFailuresAsync(Ct);
        Assert.False(await _store.PingAsync(Ct));

        await Server.RestartAsync();

        var after = await _store.AppendBatchAsync(Batch("after-crash"), Ct);
        Assert.All(after, r => Assert.Equal(AppendStatus.Stored, r.Status));
        await load.AssertNothingHalfStoredAsync(Ct);
    }

    private AppendRequest[] Batch(string name) =>
        [.. Enumerable.Range(0, BatchSize).Select(k => Msg(k % 2 == 0 ? "r1" : "r2", _alice, $"{name}-{k}"))];

    /// <summary>Writers appending two-conversation batches in a loop, recording what was acknowledged and what failed.</summary>
    private sealed class Load(IChatStore store, User sender)
    {
        private readonly ConcurrentQueue<(AppendRequest[] Batch, IReadOnlyList<AppendResult>? Acked, Exception? Error)> _outcomes = new();
        private readonly CancellationTokenSource _stop = new();
        private Task[] _writers = [];

        public async Task RunUntilAsync(int acked, CancellationToken ct)
        {
            _writers = [.. Enumerable.Range(0, 3).Select(w => Task.Run(() => WriteAsync(w)))];
            while (_outcomes.Count(o => o.Acked is not null) < acked)
            {
                await Task.Delay(20, ct);
            }
        }

        public async Task StopAfterFailuresAsync(CancellationToken ct)
        {
            while (_outcomes.Count(o => o.Error is not null) < 3)
            {
                await Task.Delay(20, ct);
            }

            await _stop.CancelAsync();
            await Task.WhenAll(_writers);
            _stop.Dispose();
            Assert.All(_outcomes.Where(o => o.Error is not null), o => Assert.IsType<StoreUnavailableException>(o.Error));
        }

        /// <summary>Every acknowledged message is stored with its acknowledged seq; every failed batch is all or nothing.</summary>
        public async Task AssertNothingHalfStoredAsync(CancellationToken ct)
        {
            var stored = new Dictionary<string, StoredMessage>();
            foreach (var conv in new[] { "r1", "r2" })
            {
                var history = (await store.ReadMessagesAsync(conv, new HistoryQuery(0, null, 100_000), ct)).Messages;
                Assert.Equal(Seqs(1, history.Count), history.Select(m => m.Seq));
                foreach (var m in history)
                {
                    stored.Add(m.ClientMsgId, m);
                }
            }

            foreach (var (batch, acked, _) in _outcomes)
            {
                var present = batch.Count(r => stored.ContainsKey(r.ClientMsgId));
                if (acked is not null)
                {
                    Assert.All(acked, r => Assert.Equal(r.Message, stored[r.Message!.ClientMsgId]));
                }
                else
                {
                    // A failure while the commit was in flight may have committed the whole batch: never a part.
                    Assert.True(present is 0 or BatchSize, $"a failed batch left {present} of {BatchSize} messages");
                }
            }
        }

        private async Task WriteAsync(int writer)
        {
            for (var b = 0; !_stop.IsCancellationRequested; b++)
            {
                var batch = Enumerable.Range(0, BatchSize).Select(k => Msg(k % 2 == 0 ? "r1" : "r2", sender, $"w{writer}-b{b}-{k}")).ToArray();
                try
                {
                    var results = await store.AppendBatchAsync(batch, CancellationToken.None);
                    Assert.All(results, r => Assert.Equal(AppendStatus.Stored, r.Status));
                    _outcomes.Enqueue((batch, results, null));
                }
                catch (Exception e)
                {
                    _outcomes.Enqueue((batch, null, e));
                    await Task.Delay(20);
                }
            }
        }
    }

    /// <summary>A PostgreSQL server of this class alone, since its tests stop and kill it.</summary>
    public sealed class PrivateServer : IAsyncLifetime
    {
        /// <summary>The running server.</summary>
        public PostgresServer Server { get; private set; } = null!;

        public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

        public async Task DisposeAsync() => await Server.DisposeAsync();
    }
}
