using System.Collections.Concurrent;
using System.Diagnostics;
using Parley.Memory;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// The presence grace (<see cref="ParleyOptions.PresenceOfflineGraceMs"/>): a user whose last connection closed still
/// counts as online for the grace. Back by then, nobody hears "offline" and "online" again; not back, they go offline
/// when it ends, not before; a node that stops ends its held connections' grace at once.
/// </summary>
[Trait("Tier", "Server")]
public sealed class PresenceGraceTests
{
    [Fact]
    public async Task A_user_back_within_the_grace_is_never_announced_offline_nor_online_again()
    {
        await using var t = await Setup.CreateAsync(graceMs: 1_500);
        var (observer, bob) = await t.AliceSeesBobOnlineAsync();

        await t.Node.Hub.DetachAsync(bob);
        // Held: still a local connection (re-asserted if the presence backend loses its state) and still online.
        Assert.Contains(t.Node.Hub.LocalConnections(), c => c.ConnectionId == bob.Id);
        Assert.Contains(t.Bob.UserId, await t.Presence.OnlineAsync([t.Bob.UserId], CancellationToken.None));

        await Task.Delay(300);
        var (back, _) = await t.Node.Hub.AttachRecordedAsync(t.Bob);
        // The grace of the dropped connection ends (the presence store hears of its close), then a moment for any news.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (t.Presence.Calls(t.Bob.UserId).Count < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(500);

        Assert.Equal(0, observer.PresenceCount(t.Bob.UserId, "offline"));
        Assert.Equal(1, observer.PresenceCount(t.Bob.UserId, "online"));
        Assert.DoesNotContain(t.Node.Hub.LocalConnections(), c => c.ConnectionId == bob.Id);
        Assert.Contains(t.Node.Hub.LocalConnections(), c => c.ConnectionId == back.Id);
        Assert.Contains(t.Bob.UserId, await t.Presence.OnlineAsync([t.Bob.UserId], CancellationToken.None));
        Assert.Equal(["connect", "connect", "disconnect"], t.Presence.Calls(t.Bob.UserId));
    }

    [Fact]
    public async Task A_user_not_back_goes_offline_when_the_grace_ends_and_not_before()
    {
        await using var t = await Setup.CreateAsync(graceMs: 1_000);
        var (observer, bob) = await t.AliceSeesBobOnlineAsync();

        var closed = Stopwatch.StartNew();
        await t.Node.Hub.DetachAsync(bob);
        await observer.WaitForPresenceAsync(t.Bob.UserId, "offline");

        Assert.True(closed.ElapsedMilliseconds >= 950, $"offline {closed.ElapsedMilliseconds} ms after the close, within the grace");
        Assert.Empty(await t.Presence.OnlineAsync([t.Bob.UserId], CancellationToken.None));
        Assert.DoesNotContain(t.Node.Hub.LocalConnections(), c => c.UserId == t.Bob.UserId);
        Assert.Equal(1, observer.PresenceCount(t.Bob.UserId, "offline"));
    }

    [Fact]
    public async Task A_stopping_node_ends_the_grace_at_once_before_its_presence_store_stops()
    {
        var t = await Setup.CreateAsync(graceMs: 60_000);
        try
        {
            var (bob, _) = await t.Node.Hub.AttachRecordedAsync(t.Bob);
            await t.Node.Hub.DetachAsync(bob);
            await Task.Delay(200);
            Assert.Equal(["connect"], t.Presence.Calls(t.Bob.UserId));
        }
        finally
        {
            var stop = Stopwatch.StartNew();
            await t.DisposeAsync();
            Assert.True(stop.Elapsed < TimeSpan.FromSeconds(30), $"stopping took {stop.Elapsed}: it waited for the grace");
        }

        Assert.Equal(["connect", "disconnect", "stopped"], t.Presence.Calls(t.Bob.UserId));
    }

    [Fact]
    public async Task Over_a_socket_a_dropped_connection_is_held_and_one_closed_with_1000_is_not()
    {
        await using var server = await ParleyTestServer.StartAsync(new Dictionary<string, string?> { ["PresenceOfflineGraceMs"] = "60000" });
        using var api = new ApiClient(server.BaseUri);
        var a = await api.RegisterAsync("alice");
        var b = await api.RegisterAsync("bob");
        var c = await api.RegisterAsync("carol");
        await api.OpenDmAsync(a, b.Username);
        await api.OpenDmAsync(a, c.Username);
        await using var alice = await WsTestClient.ConnectAndHelloAsync(server.WsUri, a.Token);
        var bob = await WsTestClient.ConnectAndHelloAsync(server.WsUri, b.Token);
        await alice.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == b.UserId && f.Str("status") == "online", TimeSpan.FromSeconds(10));
        var carol = await WsTestClient.ConnectAndHelloAsync(server.WsUri, c.Token);
        await alice.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == c.UserId && f.Str("status") == "online", TimeSpan.FromSeconds(10));

        // Bob's connection drops (no close frame): he may be back in a moment, so he stays online.
        bob.Abort();
        await bob.DisposeAsync();
        // Carol closes with 1000: she is done, and goes offline at once.
        await carol.DisposeAsync();
        await alice.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == c.UserId && f.Str("status") == "offline", TimeSpan.FromSeconds(10));

        Assert.True(await alice.NoneWithinAsync(f => f.Op() == "presence" && f.Str("userId") == b.UserId && f.Str("status") == "offline", TimeSpan.FromMilliseconds(1_000)));
        var stats = await api.CallAsync(HttpMethod.Get, "api/v1/stats");
        Assert.Equal(2, stats.Body.GetProperty("onlineUsers").GetInt32());
    }

    /// <summary>The in-memory presence store, keeping the order of the calls it gets per user.</summary>
    private sealed class RecordingPresence : IPresenceStore
    {
        private readonly InMemoryPresence _inner = new();
        private readonly ConcurrentQueue<(string? UserId, string Call)> _calls = new();

        public List<string> Calls(string userId) => [.. _calls.Where(c => c.UserId == userId || c.UserId is null).Select(c => c.Call)];

        public Task StartAsync(IPresenceNode node, CancellationToken ct) => _inner.StartAsync(node, ct);

        public Task<bool> ConnectAsync(PresenceConnection connection, CancellationToken ct)
        {
            _calls.Enqueue((connection.UserId, "connect"));
            return _inner.ConnectAsync(connection, ct);
        }

        public Task<bool> DisconnectAsync(PresenceConnection connection, CancellationToken ct)
        {
            _calls.Enqueue((connection.UserId, "disconnect"));
            return _inner.DisconnectAsync(connection, ct);
        }

        public Task<IReadOnlySet<string>> OnlineAsync(IReadOnlyCollection<string> userIds, CancellationToken ct) => _inner.OnlineAsync(userIds, ct);

        public Task<PresenceStats> StatsAsync(CancellationToken ct) => _inner.StatsAsync(ct);

        public Task<bool> PingAsync(CancellationToken ct) => _inner.PingAsync(ct);

        public ValueTask DisposeAsync()
        {
            _calls.Enqueue((null, "stopped"));
            return _inner.DisposeAsync();
        }
    }

    private sealed class Setup : IAsyncDisposable
    {
        private int _disposed;

        public ParleyNode Node { get; private set; } = null!;

        public RecordingPresence Presence { get; } = new();

        public UserRef Alice { get; private set; } = null!;

        public UserRef Bob { get; private set; } = null!;

        public static async Task<Setup> CreateAsync(int graceMs)
        {
            var t = new Setup();
            var store = EmbeddedNode.NewStore("presence-grace");
            var options = new ParleyOptions { HeadCheckIntervalMs = 600_000, PresenceOfflineGraceMs = graceMs, PresenceBatchMs = 50 };
            t.Node = await EmbeddedNode.StartAsync(store, options, presence: t.Presence);
            t.Alice = await StoreUsers.CreateAsync(t.Node.Store, "alice");
            t.Bob = await StoreUsers.CreateAsync(t.Node.Store, "bob");
            await t.Node.Chat.OpenDmAsync(t.Alice, t.Bob.Username);
            return t;
        }

        /// <summary>Alice connects, then Bob; returns Alice's frames once she has heard Bob come online, and Bob's session.</summary>
        public async Task<(RecordingSink Observer, Delivery.Session Bob)> AliceSeesBobOnlineAsync()
        {
            var (_, observer) = await Node.Hub.AttachRecordedAsync(Alice);
            var (bob, _) = await Node.Hub.AttachRecordedAsync(Bob);
            await observer.WaitForPresenceAsync(Bob.UserId, "online");
            return (observer, bob);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await Node.DisposeAsync();
            }
        }
    }
}
