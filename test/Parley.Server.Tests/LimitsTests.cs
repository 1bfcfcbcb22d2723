using System.Net.WebSockets;
using System.Text;
using Microsoft.Data.Sqlite;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>Rate limits, slow consumers, token expiry, heartbeats and drain: each on its own node.</summary>
[Trait("Tier", "Server")]
public sealed class LimitsTests
{
    private static async Task<(ParleyTestServer Server, ApiClient Api)> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var server = await ParleyTestServer.StartAsync(settings);
        return (server, new ApiClient(server.BaseUri));
    }

    /// <summary>Settings with an outbound queue of <paramref name="frames"/> and no send limit worth the name.</summary>
    private static Dictionary<string, string?> Unthrottled(int frames) => new()
    {
        ["OutboundQueueFrames"] = frames.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["SendRatePerSecond"] = "1000000",
        ["SendBurst"] = "1000000",
    };

    /// <summary>Registers a user per prefix; the first creates room <paramref name="name"/> and the others join it.</summary>
    private static async Task<(string Room, TestUser[] Users)> RoomWithAsync(ApiClient api, string name, params string[] prefixes)
    {
        var users = new TestUser[prefixes.Length];
        for (var i = 0; i < prefixes.Length; i++)
        {
            users[i] = await api.RegisterAsync(prefixes[i]);
        }

        var room = await api.CreateRoomAsync(users[0], name);
        foreach (var member in users.Skip(1))
        {
            await api.JoinAsync(member, room);
        }

        return (room, users);
    }

    [Fact]
    public async Task A_user_in_the_most_conversations_allowed_cannot_create_join_or_be_added_to_another_room_but_dms_still_open()
    {
        var (server, api) = await StartAsync(new() { ["MaxConversationsPerUser"] = "3" });
        await using var _ = server;
        var alice = await api.RegisterAsync("capa");
        var bob = await api.RegisterAsync("capb");
        var carol = await api.RegisterAsync("capc");
        var dave = await api.RegisterAsync("capd");
        var first = await api.CreateRoomAsync(alice, "one");
        await api.CreateRoomAsync(alice, "two");
        await api.OpenDmAsync(alice, carol.Username);
        var bobs = await api.CreateRoomAsync(bob, "bob's");

        // Alice is in three: a fourth room is refused every way, and nothing changes.
        var create = await api.CallAsync(HttpMethod.Post, "api/v1/rooms", new { name = "three" }, alice.Token);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, create.Status);
        Assert.Equal("forbidden", create.ErrorCode);
        Assert.Equal("forbidden", (await api.JoinAsync(alice, bobs)).ErrorCode);
        var added = await api.AddMemberAsync(bob, bobs, alice.Username);
        Assert.Equal("forbidden", added.ErrorCode);
        Assert.Contains(alice.Username, added.Body.GetProperty("error").Str("message"), StringComparison.Ordinal);
        Assert.Equal(3, (await api.ConversationsAsync(alice)).Body.GetArrayLength());
        Assert.Equal(1, (await api.ConversationsAsync(bob)).Body.GetArrayLength());

        // A DM still opens (DMs are never refused, but they count), and leaving rooms makes room for another.
        await api.OpenDmAsync(alice, dave.Username);
        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await api.LeaveAsync(alice, first)).Status);
        Assert.Equal("forbidden", (await api.JoinAsync(alice, bobs)).ErrorCode);
        var second = (await api.ConversationsAsync(alice)).Body.EnumerateArray().Single(c => c.Str("name") == "two").Str("id")!;
        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await api.LeaveAsync(alice, second)).Status);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await api.JoinAsync(alice, bobs)).Status);

        // At the cap again, joining a room she is already in still answers as before.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await api.JoinAsync(alice, bobs)).Status);
    }

    [Fact]
    public async Task A_hello_resuming_thousands_of_foreign_conversations_gets_a_bounded_answer_and_stays_open()
    {
        var (server, api) = await StartAsync();
        await using var _ = server;
        using var __ = api;
        var (room, users) = await RoomWithAsync(api, "kept", "stale", "peer");
        await using (var peer = await WsTestClient.ConnectAndHelloAsync(server.WsUri, users[1].Token))
        {
            await peer.SendMessageAsync(room, "while you were away");
        }

        // Cursors for 5,000 conversations that are not the user's (rooms it was removed from while away, say): more
        // than the connection's outbound queue holds (4,096 frames) were each answered with an error of its own.
        var resume = Enumerable.Range(0, 5_000).ToDictionary(i => $"gone{i:D4}", _ => 1L);
        resume[room] = 0;
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, users[0].Token, resume);

        var errors = ws.All.Where(f => f.Op() == "error").ToList();
        Assert.All(errors, e => Assert.Equal(("not_found", "hello"), (e.Str("code"), e.Str("ref"))));
        Assert.Equal(Parley.Delivery.Hub.ForeignResumesNamed + 1, errors.Count);
        Assert.Contains("4900 more", errors[^1].Str("message"), StringComparison.Ordinal);
        Assert.Equal([1L], ws.All.Where(f => f.Op() == "msg" && f.Str("conv") == room).Select(f => f.GetProperty("seq").GetInt64()));

        // The connection is still open and serving.
        var ack = await ws.SendMessageAsync(room, "back");
        Assert.Equal("ack", ack.Op());
    }

    [Fact]
    public async Task A_hello_whose_backlog_exceeds_the_outbound_queue_gets_gaps_instead_of_a_4008_close()
    {
        // A queue of 64 frames and a hello budget of 32 messages; ten rooms with 100 large messages each (48 MB, more
        // than the kernel's socket buffers take) for a client that reads nothing until its hello is answered.
        var settings = Unthrottled(64);
        settings["HelloBacklogFrames"] = "32";
        var (server, api) = await StartAsync(settings);
        await using var _ = server;
        using var __ = api;
        var user = await api.RegisterAsync("busy");
        var writer = await api.RegisterAsync("writer");
        var rooms = new List<string>();
        for (var r = 0; r < 10; r++)
        {
            var room = await api.CreateRoomAsync(writer, "busy" + r);
            await api.JoinAsync(user, room);
            rooms.Add(room);
        }

        // Written over REST, so no connection of the writer's has to take the echoes.
        var body = string.Concat(Enumerable.Repeat("😀", 4000));
        await Task.WhenAll(rooms.Select(async room =>
        {
            for (var i = 0; i < 100; i++)
            {
                var sent = await api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = "m" + i, body }, writer.Token);
                Assert.Equal(System.Net.HttpStatusCode.Created, sent.Status);
            }
        }));

        // The hello goes out, then nothing is read for two seconds: the backlog piles up on the server.
        using var raw = new ClientWebSocket();
        await raw.ConnectAsync(server.WsUri, CancellationToken.None);
        await raw.SendAsync(Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { op = "hello", token = user.Token })), WebSocketMessageType.Text, true, CancellationToken.None);
        await Task.Delay(2_000);

        var frames = new List<System.Text.Json.JsonElement>();
        var buffer = new byte[1 << 20];
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (frames.Count == 0 || frames[^1].Op() != "synced")
        {
            var length = 0;
            WebSocketReceiveResult result;
            do
            {
                result = await raw.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), reading.Token);
                length += result.Count;
            }
            while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

            Assert.True(result.MessageType != WebSocketMessageType.Close, $"closed with {raw.CloseStatus} ({raw.CloseStatusDescription}) after {frames.Count} frames");
            frames.Add(System.Text.Json.JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone());
        }

        // Every room is accounted for: its newest messages, or a gap, or both, covering seqs 1..100 without a hole.
        var messages = frames.Count(f => f.Op() == "msg");
        Assert.InRange(messages, 1, 32);
        foreach (var room in rooms)
        {
            var gap = frames.Where(f => f.Op() == "gap" && f.Str("conv") == room).Select(f => (From: f.GetProperty("fromSeq").GetInt64(), To: f.GetProperty("toSeq").GetInt64())).ToList();
            var seqs = frames.Where(f => f.Op() == "msg" && f.Str("conv") == room).Select(f => f.GetProperty("seq").GetInt64()).ToList();
            var covered = gap.SelectMany(g => Enumerable.Range((int)g.From, (int)(g.To - g.From + 1)).Select(i => (long)i)).Concat(seqs).ToList();
            Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), covered);
        }
    }

    [Fact]
    public async Task Sends_over_the_rate_limit_get_rate_limited_and_a_flooding_connection_is_closed_with_4029()
    {
        var (server, api) = await StartAsync();
        await using var _ = server;
        using var __ = api;
        var flooder = await api.RegisterAsync("flood");
        var calm = await api.RegisterAsync("calm");
        var room = await api.CreateRoomAsync(flooder, "flooded");
        await api.JoinAsync(calm, room);
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, flooder.Token);
        await using var other = await WsTestClient.ConnectAndHelloAsync(server.WsUri, calm.Token);

        try
        {
            for (var i = 0; i < 400; i++)
            {
                await ws.SendAsync(new { op = "send", conv = room, clientMsgId = "f" + i, body = "spam" });
            }
        }
        catch (WebSocketException)
        {
            // Closed by the server mid-flood.
        }

        Assert.Equal(4029, await ws.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        var limited = ws.All.Count(f => f.Op() == "error" && f.Str("code") == "rate_limited");
        Assert.True(limited > 50, $"rate_limited errors: {limited}");
        // The burst (40) and what refilled meanwhile were stored; acks still in flight when the socket closed are
        // recovered by the client's retry (same clientMsgId) after it reconnects.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await api.AllMessagesAsync(calm, room)).Count < 40 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(500);
        var stored = (await api.AllMessagesAsync(calm, room)).Count;
        Assert.InRange(stored, 40, 60);
        Assert.True(ws.All.Count(f => f.Op() == "ack") <= stored);

        // Other users are not affected.
        Assert.Equal("ack", (await other.SendMessageAsync(room, "i am fine")).Op());
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_dropped_while_others_keep_receiving()
    {
        var (server, api) = await StartAsync(Unthrottled(1024));
        await using var _ = server;
        using var __ = api;
        var (room, users) = await RoomWithAsync(api, "busy", "talk", "sleep", "read");
        var (talker, sleeper, reader) = (users[0], users[1], users[2]);

        // A raw socket that says hello and then never reads.
        using var stuck = new ClientWebSocket();
        await stuck.ConnectAsync(server.WsUri, CancellationToken.None);
        await stuck.SendAsync(Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{sleeper.Token}\"}}"), WebSocketMessageType.Text, true, CancellationToken.None);
        await using var good = await WsTestClient.ConnectAndHelloAsync(server.WsUri, reader.Token);
        await using var sender = await WsTestClient.ConnectAndHelloAsync(server.WsUri, talker.Token);
        await Eventually.TrueAsync(() => server.Node.Hub.SessionCount == 3, TimeSpan.FromSeconds(10), "three sessions");

        var body = new string('b', 3000);
        const int Count = 8000;
        for (var i = 1; i <= Count; i++)
        {
            await sender.SendAsync(new { op = "send", conv = room, clientMsgId = "b" + i, body });
            if (i % 100 == 0)
            {
                // Windows of 100: the sender reads its own acks and echoes and stays a healthy reader itself.
                await sender.WaitForAsync(f => f.Op() == "ack" && f.Str("clientMsgId") == "b" + i, TimeSpan.FromSeconds(30));
            }
        }

        await good.WaitForAsync(f => f.Op() == "msg" && f.Long("seq") == Count, TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => server.Node.Hub.SessionCount == 2, TimeSpan.FromSeconds(15), "two sessions left");
        Assert.Equal(Count, good.All.Count(f => f.Op() == "msg"));
    }

    [Fact]
    public async Task A_hello_backlog_longer_than_the_outbound_queue_arrives_in_full_before_synced()
    {
        // A hello's backlog is queued to leave with synced in one write, but it is written as soon as half the queue
        // waits: 50 backlog frames against a queue of 32. Held whole, they would close the socket as a slow consumer.
        var (server, api) = await StartAsync(Unthrottled(32));
        await using var _ = server;
        using var __ = api;
        var (room, users) = await RoomWithAsync(api, "backlog", "write", "back");
        var (writer, reader) = (users[0], users[1]);
        await using (var w = await WsTestClient.ConnectAndHelloAsync(server.WsUri, writer.Token))
        {
            for (var i = 1; i <= 50; i++)
            {
                Assert.Equal("ack", (await w.SendMessageAsync(room, "m" + i)).Op());
            }
        }

        // Returns after synced, or throws if the socket closed first.
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, reader.Token);
        var frames = ws.All.ToList();
        var synced = frames.FindIndex(f => f.Op() == "synced");
        Assert.Equal(
            Enumerable.Range(1, 50).Select(s => (long)s),
            frames.Take(synced).Where(f => f.Op() == "msg" && f.Str("conv") == room).Select(f => f.Long("seq")));

        // Still open: the connection answers.
        await ws.SendAsync(new { op = "ping", t = 7 });
        Assert.Equal(7, (await ws.WaitForOpAsync("pong", TimeSpan.FromSeconds(5))).Long("t"));
    }

    [Fact]
    public async Task A_socket_whose_token_expires_is_closed_with_4001()
    {
        var (server, api) = await StartAsync(new() { ["TokenLifetimeSeconds"] = "2" });
        await using var _ = server;
        using var __ = api;
        var user = await api.RegisterAsync("expire");
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, user.Token);
        Assert.Equal(4001, await ws.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(ws.All, f => f.Op() == "error" && f.Str("code") == "unauthorized");
    }

    [Fact]
    public async Task A_peer_that_answers_no_pings_is_closed_within_two_heartbeats()
    {
        var (server, api) = await StartAsync(new() { ["HeartbeatMs"] = "500" });
        await using var _ = server;
        using var __ = api;
        var user = await api.RegisterAsync("silent");
        using var silent = new ClientWebSocket();
        silent.Options.KeepAliveInterval = TimeSpan.Zero;
        await silent.ConnectAsync(server.WsUri, CancellationToken.None);
        await silent.SendAsync(Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{user.Token}\"}}"), WebSocketMessageType.Text, true, CancellationToken.None);
        await Eventually.TrueAsync(() => server.Node.Hub.SessionCount == 1, TimeSpan.FromSeconds(10), "one session");
        // Never reading means never answering the server's pings.
        await Eventually.TrueAsync(() => server.Node.Hub.SessionCount == 0, TimeSpan.FromSeconds(5), "no session left");
    }

    [Fact]
    public async Task A_peer_whose_answers_wait_unread_behind_a_slow_store_is_kept()
    {
        // The receive loop stops reading while a connection has its 256 ops in flight; here they wait for the store's
        // write lock, which the test holds for six heartbeat periods. The client keeps answering pings, but the answers
        // stay unread in the socket: the keep-alive must see them there rather than drop the peer as silent.
        var db = Path.Combine(TestPorts.NewTempDir("slowstore"), "parley.db");
        var (server, api) = await StartAsync(new()
        {
            ["HeartbeatMs"] = "300",
            ["SqlitePath"] = db,
            ["SendRatePerSecond"] = "100000",
            ["SendBurst"] = "100000",
        });
        await using var _ = server;
        using var __ = api;
        var user = await api.RegisterAsync("patient");
        var room = await api.CreateRoomAsync(user);
        await using var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, user.Token);

        const int Sends = 300;
        await using (var writer = new SqliteConnection($"Data Source={db}"))
        {
            await writer.OpenAsync();
            await using (var begin = writer.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE";
                await begin.ExecuteNonQueryAsync();
            }

            for (var i = 0; i < Sends; i++)
            {
                await ws.SendAsync(new { op = "send", conv = room, clientMsgId = $"held-{i}", body = $"m{i}" });
            }

            await Task.Delay(1_800);
            Assert.False(ws.Closed.IsCompleted, $"dropped while its pongs waited unread (close {ws.Socket.CloseStatus})");
            Assert.DoesNotContain(ws.All, f => f.Op() == "ack");
            await using var rollback = writer.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }

        // Acked once the lock is gone, on the same connection: nothing was refused or lost while it waited.
        await Eventually.TrueAsync(() => ws.All.Count(f => f.Op() == "ack") == Sends, TimeSpan.FromSeconds(30), () => $"{Sends} acks (have {ws.All.Count(f => f.Op() == "ack")})");
        Assert.Equal(Sends, ws.All.Where(f => f.Op() == "ack").Select(f => f.Str("clientMsgId")).Distinct().Count());
        Assert.DoesNotContain(ws.All, f => f.Op() == "error");
        Assert.False(ws.Closed.IsCompleted);
        Assert.Equal(Sends, (await api.AllMessagesAsync(user, room)).Count);
    }

    [Fact]
    public async Task A_stopping_node_closes_its_sockets_with_1012_and_refuses_new_ones()
    {
        var (server, api) = await StartAsync();
        using var __ = api;
        var user = await api.RegisterAsync("drain");
        var ws = await WsTestClient.ConnectAndHelloAsync(server.WsUri, user.Token);
        var stopping = server.DisposeAsync().AsTask();
        Assert.Equal(1012, await ws.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        await stopping;
        await ws.DisposeAsync();
    }

    [Fact]
    public async Task A_hello_that_arrives_after_the_drain_began_is_closed_with_1012_too()
    {
        var (server, api) = await StartAsync();
        await using var _ = server;
        using var __ = api;
        var user = await api.RegisterAsync("late");
        var room = await api.CreateRoomAsync(user, "late");
        await using var upgraded = await WsTestClient.ConnectAsync(server.WsUri);
        await using var attached = await WsTestClient.ConnectAndHelloAsync(server.WsUri, user.Token);

        // The drain tells the sessions it has (web server still up, so nothing else closes the early socket).
        await server.Node.DrainAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1012, await attached.WaitClosedAsync(TimeSpan.FromSeconds(10)));

        // A socket upgraded before the drain says hello only now: it is told the same, and given nothing.
        await upgraded.SendAsync(new { op = "hello", token = user.Token, resume = new Dictionary<string, long> { [room] = 0 } });
        Assert.Equal(1012, await upgraded.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.DoesNotContain(upgraded.All, f => f.Op() is "welcome" or "synced");
        Assert.Equal(0, server.Node.Hub.SessionCount);
    }
}
