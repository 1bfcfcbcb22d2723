using System.Diagnostics;
using System.Reflection;
using Parley.Delivery;
using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// What a connection queues before its hello is attached (its welcome) leaves with the hello's backlog and synced in one
/// socket write, and no later than the hub's sweep when the store is slow to list the conversations.
/// </summary>
[Trait("Tier", "Server")]
public sealed class HelloWelcomeTests
{
    private static readonly byte[] Welcome = """{"op":"welcome","userId":"u","username":"u","node":"n","heartbeatMs":25000}"""u8.ToArray();

    [Fact]
    public async Task A_welcome_queued_before_the_attach_leaves_with_the_backlog_and_synced_in_one_write()
    {
        await using var t = await Setup.CreateAsync();
        var (session, sink) = t.SessionWithWelcomeQueued();

        await t.Node.Hub.AttachAsync(session, new Dictionary<string, long> { [t.Room] = 0 }, CancellationToken.None);
        await sink.WaitForSyncedAsync();

        Assert.Equal(["welcome", "msg", "msg", "synced"], sink.Ops());
        Assert.Equal([1L, 2L], sink.Seqs(t.Room));
        Assert.Equal(1, sink.Writes);
    }

    [Fact]
    public async Task While_the_conversation_list_waits_for_the_store_the_sweep_writes_the_welcome_within_two_seconds()
    {
        await using var t = await Setup.CreateAsync();
        var (session, sink) = t.SessionWithWelcomeQueued();

        t.Gate.Close();
        var clock = Stopwatch.StartNew();
        var attach = t.Node.Hub.AttachAsync(session, new Dictionary<string, long> { [t.Room] = 0 }, CancellationToken.None);
        await Eventually.TrueAsync(() => sink.Writes == 1, TimeSpan.FromSeconds(10), "the held welcome written");
        var written = clock.Elapsed;
        Assert.True(written < TimeSpan.FromSeconds(5), $"welcome written after {written}");
        Assert.True(written > TimeSpan.FromSeconds(0.5), $"welcome written after {written}: it did not wait for the backlog");
        Assert.Equal(["welcome"], sink.Ops());

        t.Gate.Open();
        await attach;
        await sink.WaitForSyncedAsync();
        Assert.Equal(["welcome", "msg", "msg", "synced"], sink.Ops());
        Assert.Equal(2, sink.Writes);
    }

    /// <summary>The real store, whose conversation listings wait while the gate is closed.</summary>
    public class ListingGate : StoreInterceptor
    {
        private volatile TaskCompletionSource _open = Opened();

        public void Close() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _open.TrySetResult();

        protected override object? Intercept(MethodInfo method, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(method);
            ArgumentNullException.ThrowIfNull(args);
            if (method.Name != nameof(IChatStore.ListConversationsOfUsersAsync))
            {
                return null;
            }

            var gate = _open.Task;
            return Listed((IReadOnlyCollection<string>)args[0]!, (CancellationToken)args[1]!);

            async Task<IReadOnlyDictionary<string, IReadOnlyList<ConversationView>>> Listed(IReadOnlyCollection<string> users, CancellationToken ct)
            {
                await gate;
                return await Inner.ListConversationsOfUsersAsync(users, ct);
            }
        }

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }
    }

    private sealed class Setup : IAsyncDisposable
    {
        public ParleyNode Node { get; private set; } = null!;

        public ListingGate Gate { get; private set; } = null!;

        public string Room { get; private set; } = "";

        public string Reader { get; private set; } = "";

        public static async Task<Setup> CreateAsync()
        {
            var t = new Setup();
            var sqlite = EmbeddedNode.NewStore("welcome");
            var (store, gate) = StoreInterceptor.Wrap<ListingGate>(sqlite);
            t.Gate = gate;
            t.Node = await EmbeddedNode.StartAsync(store, new ParleyOptions());

            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var owner = Ids.New("u");
            t.Reader = Ids.New("u");
            await store.CreateUserAsync(new User(owner, "owner" + owner[^6..], "x", now), CancellationToken.None);
            await store.CreateUserAsync(new User(t.Reader, "reader" + t.Reader[^6..], "x", now), CancellationToken.None);
            t.Room = Ids.New("r");
            await store.CreateRoomAsync(t.Room, owner, "welcome", false, now, CancellationToken.None);
            await store.AddMemberAsync(t.Room, t.Reader, now, CancellationToken.None);
            await store.AppendBatchAsync(
                [.. Enumerable.Range(1, 2).Select(i => new AppendRequest(t.Room, owner, "owner", $"k{i}", Ids.New("m"), $"body {i}", now, "test"))],
                CancellationToken.None);
            return t;
        }

        /// <summary>A session of the reader whose connection has queued its welcome without a flush, as a hello does.</summary>
        public (Session Session, RecordingSink Sink) SessionWithWelcomeQueued()
        {
            var sink = new RecordingSink();
            var session = Node.Hub.CreateSession(Reader, "reader", sink);
            Assert.True(sink.TryQueue(Welcome));
            return (session, sink);
        }

        public async ValueTask DisposeAsync()
        {
            Gate.Open();
            await Node.DisposeAsync();
        }
    }
}
