using System.Collections.Concurrent;
using System.Net;
using Parley.Client;
using Parley.Protocol;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>The five delivery guarantees of protocol v1, end to end over real sockets.</summary>
[Trait("Tier", "Server")]
public sealed class DeliveryGuaranteeTests(UnlimitedNodeFixture node) : IClassFixture<UnlimitedNodeFixture>
{
    private ApiClient Api => node.Api;

    [Fact]
    public async Task Eight_concurrent_senders_produce_one_gapless_run_seen_identically_by_all_members()
    {
        var (room, users) = await node.RoomWithAsync(8);
        var clients = await Task.WhenAll(users.Select(u => node.HelloAsync(u)));
        try
        {
            const int PerSender = 40;
            var acks = await Task.WhenAll(clients.Select((c, i) => Task.Run(async () =>
            {
                var seqs = new List<long>();
                for (var n = 0; n < PerSender; n++)
                {
                    var ack = await c.SendMessageAsync(room, $"s{i}-{n}", $"s{i}-{n}");
                    Assert.Equal("ack", ack.Op());
                    seqs.Add(ack.Long("seq"));
                }

                return seqs;
            })));

            var total = 8 * PerSender;
            Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), acks.SelectMany(s => s).Order());
            foreach (var seqs in acks)
            {
                Assert.Equal(seqs.Order(), seqs); // each sender's own messages keep their order
            }

            var views = new List<List<string>>();
            foreach (var c in clients)
            {
                await c.WaitForAsync(f => f.Op() == "msg" && f.Long("seq") == total, TimeSpan.FromSeconds(20));
                var msgs = c.All.Where(f => f.Op() == "msg").ToList();
                Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), msgs.Select(m => m.Long("seq")));
                views.Add(msgs.Select(m => m.Str("body")!).ToList());
            }

            Assert.All(views, v => Assert.Equal(views[0], v));
            var history = await Api.AllMessagesAsync(users[0], room);
            Assert.Equal(views[0], history.Select(m => m.Str("body")!));
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_retry_from_another_connection_stores_nothing_new_and_answers_the_original_seq()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var first = await node.HelloAsync(users[0]);
        var ack = await first.SendMessageAsync(room, "only once", "retry-me");
        await first.SendMessageAsync(room, "another");
        await using var second = await node.HelloAsync(users[0]);
        var again = await second.SendMessageAsync(room, "only once", "retry-me");
        Assert.Equal("ack", again.Op());
        Assert.Equal(ack.Long("seq"), again.Long("seq"));
        Assert.Equal(ack.Long("ts"), again.Long("ts"));
        var history = await Api.AllMessagesAsync(users[0], room);
        Assert.Equal(2, history.Count);
        Assert.Single(history, m => m.Str("clientMsgId") == "retry-me");

        // The same clientMsgId from another sender is another message.
        await using var other = await node.HelloAsync(users[1]);
        var theirs = await other.SendMessageAsync(room, "mine", "retry-me");
        Assert.Equal(3, theirs.Long("seq"));
    }

    [Fact]
    public async Task A_member_offline_during_500_sends_gets_the_newest_200_and_a_gap_then_fills_it_from_history()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using (var b = await node.HelloAsync(users[1]))
        {
        }

        await using var a = await node.HelloAsync(users[0]);
        for (var i = 1; i <= 500; i++)
        {
            await a.SendAsync(new { op = "send", conv = room, clientMsgId = "c" + i, body = "m" + i });
        }

        await a.WaitForAsync(f => f.Op() == "ack" && f.Str("clientMsgId") == "c500", TimeSpan.FromSeconds(30));

        await using var back = await node.HelloAsync(users[1]);
        var frames = back.All.SkipWhile(f => f.Op() != "welcome").ToList();
        var gap = Assert.Single(frames, f => f.Op() == "gap");
        Assert.Equal(room, gap.Str("conv"));
        Assert.Equal(1, gap.Long("fromSeq"));
        Assert.Equal(300, gap.Long("toSeq"));
        var backlog = frames.Where(f => f.Op() == "msg").Select(f => f.Long("seq")).ToList();
        Assert.Equal(Enumerable.Range(301, 200).Select(i => (long)i), backlog);
        Assert.True(frames.IndexOf(gap) < frames.FindIndex(f => f.Op() == "msg"));
        Assert.Equal("synced", frames[^1].Op());

        var filled = new List<long>();
        var after = gap.Long("fromSeq") - 1;
        while (after < gap.Long("toSeq"))
        {
            var page = await Api.HistoryAsync(users[1], room, $"?after={after}&before={gap.Long("toSeq") + 1}&limit=200");
            var seqs = page.Body.GetProperty("messages").EnumerateArray().Select(m => m.Long("seq")).ToList();
            filled.AddRange(seqs);
            after = seqs[^1];
        }

        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), filled.Concat(backlog));
    }

    [Fact]
    public async Task Resume_cursors_replace_the_delivered_watermark_and_nothing_repeats()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        for (var i = 1; i <= 10; i++)
        {
            await a.SendMessageAsync(room, "m" + i);
        }

        await using var b = await node.HelloAsync(users[1], resume: new Dictionary<string, long> { [room] = 7 });
        Assert.Equal([8L, 9, 10], b.All.Where(f => f.Op() == "msg").Select(f => f.Long("seq")));
        await a.SendMessageAsync(room, "m11");
        await b.WaitForAsync(f => f.Op() == "msg" && f.Long("seq") == 11);
        Assert.Equal([8L, 9, 10, 11], b.All.Where(f => f.Op() == "msg").Select(f => f.Long("seq")));

        // Without resume, the cursor is the delivered watermark.
        await b.SendAsync(new { op = "delivered", conv = room, seq = 9 });
        await a.WaitForAsync(f => f.Op() == "receipt" && f.Long("seq") == 9);
        await using var b2 = await node.HelloAsync(users[1]);
        Assert.Equal([10L, 11], b2.All.Where(f => f.Op() == "msg").Select(f => f.Long("seq")));
    }

    [Fact]
    public async Task Messages_sent_while_a_connection_attaches_arrive_once_in_order()
    {
        var (room, users) = await node.RoomWithAsync(2);
        await using var a = await node.HelloAsync(users[0]);
        using var stop = new CancellationTokenSource();
        // At most 180 messages in all: a hello's backlog is the newest 200 (older ones come as a gap), and this test is
        // about the seqs committed while the attach runs, not about the backlog limit.
        var sender = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested && n < 180)
            {
                await a.SendMessageAsync(room, "x" + ++n);
                await Task.Delay(1);
            }

            return n;
        });

        var connections = new List<WsTestClient>();
        for (var i = 0; i < 5; i++)
        {
            connections.Add(await node.HelloAsync(users[1], resume: new Dictionary<string, long> { [room] = 0 }));
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        var sent = await sender;
        foreach (var c in connections)
        {
            await c.WaitForAsync(f => f.Op() == "msg" && f.Long("seq") == sent, TimeSpan.FromSeconds(20));
            Assert.Equal(Enumerable.Range(1, sent).Select(i => (long)i), c.All.Where(f => f.Op() == "msg").Select(f => f.Long("seq")));
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_sdk_client_killed_mid_stream_and_restarted_ends_with_every_acked_message_once_in_order()
    {
        var (room, users) = await node.RoomWithAsync(2);
        var (writer, reader) = (users[0], users[1]);
        var received = new ConcurrentQueue<long>();
        var options = new ParleyClientOptions { BaseUri = node.Server.BaseUri, TokenProvider = _ => Task.FromResult(reader.Token) };

        var sender = new ParleyClient(new ParleyClientOptions { BaseUri = node.Server.BaseUri, TokenProvider = _ => Task.FromResult(writer.Token) });
        await using var senderDispose = sender;
        await sender.ConnectAsync();
        var client = new ParleyClient(options);
        client.MessageReceived += m => received.Enqueue(m.Seq);
        await client.ConnectAsync();

        var acked = new ConcurrentBag<long>();
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 300; i++)
            {
                acked.Add((await sender.SendAsync(room, "n" + i)).Seq);
            }
        });

        // Kill the reader mid-stream (no close handshake), then restart a new SDK client from the cursors it saved.
        await Eventually.TrueAsync(() => received.Count >= 50, TimeSpan.FromSeconds(20), "50 messages received");
        await client.DisposeAsync();
        // What the app saved when it died: the cursors of everything its handler had been given.
        var saved = new Dictionary<string, long>(client.Cursors);
        var restarted = new ParleyClient(new ParleyClientOptions
        {
            BaseUri = node.Server.BaseUri,
            TokenProvider = _ => Task.FromResult(reader.Token),
            InitialCursors = saved,
        });
        restarted.MessageReceived += m => received.Enqueue(m.Seq);
        await using (restarted)
        {
            await restarted.ConnectAsync();
            await sending;
            await Eventually.TrueAsync(() => received.Last() == 300, TimeSpan.FromSeconds(20), "the last message received");
        }

        Assert.Equal(300, acked.Count);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), received);
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), acked.Order());
    }

    [Fact]
    public async Task An_sdk_send_whose_ack_is_lost_is_retried_with_the_same_client_msg_id_and_stored_once()
    {
        var (room, users) = await node.RoomWithAsync(1);
        var client = new ParleyClient(new ParleyClientOptions { BaseUri = node.Server.BaseUri, TokenProvider = _ => Task.FromResult(users[0].Token), AckTimeout = TimeSpan.FromMilliseconds(300) });
        await using (client)
        {
            await client.ConnectAsync();
            // Send the frame directly with the same clientMsgId first: the SDK's later send is then a retry.
            await using var raw = await node.HelloAsync(users[0]);
            var first = await raw.SendMessageAsync(room, "dup", "fixed-id");
            var ack = await client.SendAsync(room, "dup", "fixed-id");
            Assert.Equal(first.Long("seq"), ack.Seq);
        }

        Assert.Single(await Api.AllMessagesAsync(users[0], room));
    }

    [Fact]
    public async Task A_send_to_a_conversation_the_sender_is_not_in_is_refused_by_the_sdk_for_good()
    {
        var (room, _) = await node.RoomWithAsync(1);
        var stranger = await Api.RegisterAsync("str");
        var client = new ParleyClient(new ParleyClientOptions { BaseUri = node.Server.BaseUri, TokenProvider = _ => Task.FromResult(stranger.Token) });
        await using (client)
        {
            await client.ConnectAsync();
            var error = await Assert.ThrowsAsync<ParleyClientException>(() => client.SendAsync(room, "let me in"));
            Assert.Equal(ErrorCodes.NotFound, error.Code);
            Assert.Equal(0, client.PendingSends);
        }
    }
}
