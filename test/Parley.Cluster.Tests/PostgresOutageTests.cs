using System.Diagnostics;
using System.Net;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Cluster.Tests;

/// <summary>PostgreSQL is the record: while it is down nothing is acked, and nothing is half-stored when it returns.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Tier", "Cluster")]
public sealed class PostgresOutageTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Sends_answer_unavailable_within_seconds_and_readyz_is_503_and_after_recovery_sends_succeed_with_nothing_half_stored()
    {
        var cluster = fixture.Cluster;
        var (n1, n2) = (fixture.Nodes[0], fixture.Nodes[1]);
        var users = await fixture.UsersAsync(2, "p");
        var (alice, bob) = (users[0], users[1]);
        var room = await fixture.RoomAsync(alice, bob);
        await using var aliceWs = await ClusterFixture.ConnectAsync(alice, n1);
        await using var bobWs = await ClusterFixture.ConnectAsync(bob, n2);
        try
        {
            Assert.Equal("ack", (await aliceWs.SendMessageAsync(room, "one")).Op());
            Assert.Equal("ack", (await bobWs.SendMessageAsync(room, "two")).Op());

            await cluster.Postgres.StopAsync();
            var failed = new List<string>();
            foreach (var ws in new[] { aliceWs, bobWs, aliceWs })
            {
                var cid = Guid.NewGuid().ToString("N");
                var clock = Stopwatch.StartNew();
                var answer = await ws.SendMessageAsync(room, "while the store is down", cid);
                output.WriteLine($"answer after {clock.ElapsedMilliseconds} ms: {answer}");
                Assert.Equal("error", answer.Op());
                Assert.Equal("unavailable", answer.Str("code"));
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"unavailable took {clock.Elapsed}");
                failed.Add(cid);
            }

            var rest = await n2.Api.CallAsync(HttpMethod.Post, $"api/v1/conversations/{room}/messages", new { clientMsgId = "rest-while-down", body = "x" }, bob.Token);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, rest.Status);
            Assert.Equal("unavailable", rest.ErrorCode);
            foreach (var node in fixture.Nodes)
            {
                await node.WaitReadyzAsync(HttpStatusCode.ServiceUnavailable, Wait);
            }

            Assert.DoesNotContain(aliceWs.All.Concat(bobWs.All), f => f.Op() == "ack" && failed.Contains(f.Str("clientMsgId")!));

            await cluster.Postgres.RestartAsync();
            foreach (var node in fixture.Nodes)
            {
                await node.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
            }

            // Retry two of the three refused sends (same clientMsgId), leave the third: only the retried ones exist.
            Assert.Equal(3, (await aliceWs.SendMessageAsync(room, "retried", failed[0])).Long("seq"));
            Assert.Equal(4, (await bobWs.SendMessageAsync(room, "retried", failed[1])).Long("seq"));
            Assert.Equal(5, (await bobWs.SendMessageAsync(room, "fresh")).Long("seq"));

            var stored = await cluster.Api.AllMessagesAsync(alice, room);
            Assert.Equal([1L, 2, 3, 4, 5], stored.Select(m => m.Long("seq")));
            Assert.DoesNotContain(stored, m => m.Str("clientMsgId") == failed[2] || m.Str("clientMsgId") == "rest-while-down");
            foreach (var ws in new[] { aliceWs, bobWs })
            {
                await Eventually.TrueAsync(() => ws.Seqs(room).Count >= 5, Wait, () => string.Join(",", ws.Seqs(room)));
                Assert.True(ws.Seqs(room).IsExactly1To(5), string.Join(",", ws.Seqs(room)));
            }
        }
        finally
        {
            await cluster.HealAsync();
        }
    }

    [Fact]
    public async Task With_the_store_frozen_sends_answer_unavailable_within_seconds_and_retries_after_it_thaws_store_each_message_once()
    {
        var cluster = fixture.Cluster;
        var users = await fixture.UsersAsync(2, "f");
        var room = await fixture.RoomAsync(users);
        await using var alice = await ClusterFixture.ConnectAsync(users[0], fixture.Nodes[0]);
        await using var bob = await ClusterFixture.ConnectAsync(users[1], fixture.Nodes[1]);
        try
        {
            Assert.Equal("ack", (await alice.SendMessageAsync(room, "before")).Op());

            // A hung database (or a partition): connections stay open and nothing answers.
            cluster.Postgres.Pause();
            var cids = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid().ToString("N")).ToList();
            var clock = Stopwatch.StartNew();
            var answers = await Task.WhenAll(cids.Select((cid, i) => Timed(i % 2 == 0 ? alice : bob, room, cid)));
            foreach (var (answer, elapsed) in answers)
            {
                output.WriteLine($"answer after {elapsed.TotalMilliseconds:F0} ms: {answer}");
            }

            foreach (var (answer, elapsed) in answers)
            {
                Assert.Equal("unavailable", answer.Str("code"));
                Assert.True(elapsed < TimeSpan.FromSeconds(10), $"unavailable after {elapsed}");
            }

            cluster.Postgres.Resume();
            foreach (var node in fixture.Nodes)
            {
                await node.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
            }

            // "Safe to retry": whether or not a refused send's commit landed, its retry stores it exactly once.
            // (The refusals above are still unread in the clients' queues: look for the ack in the record instead.)
            for (var i = 0; i < cids.Count; i++)
            {
                var ws = i % 2 == 0 ? alice : bob;
                var cid = cids[i];
                await ws.SendAsync(new { op = "send", conv = room, clientMsgId = cid, body = "while frozen" });
                await Eventually.TrueAsync(() => ws.All.Any(f => f.Op() == "ack" && f.Str("clientMsgId") == cid), Wait, () => $"retry {i} acked: {ws.All[^1]}\n{cluster.Diagnostics()}");
            }

            var stored = await cluster.Api.AllMessagesAsync(users[0], room);
            Assert.Equal(Enumerable.Range(1, 4).Select(i => (long)i), stored.Select(m => m.Long("seq")));
            Assert.Equal(cids.Order(), stored.Skip(1).Select(m => m.Str("clientMsgId")!).Order());
        }
        finally
        {
            await cluster.HealAsync();
        }

        // Waits well past the 5 s bound, so a late answer is measured rather than just missed.
        static async Task<(System.Text.Json.JsonElement, TimeSpan)> Timed(WsTestClient ws, string room, string cid)
        {
            var clock = Stopwatch.StartNew();
            await ws.SendAsync(new { op = "send", conv = room, clientMsgId = cid, body = "while frozen" });
            // Polls the record rather than WaitForAsync: two sends of one client wait at once here.
            bool Answer(System.Text.Json.JsonElement f) => (f.Op() == "ack" && f.Str("clientMsgId") == cid) || (f.Op() == "error" && f.Str("ref") == cid);
            await Eventually.TrueAsync(() => ws.All.Any(Answer), TimeSpan.FromSeconds(40), () => $"an answer to {cid}");
            return (ws.All.First(Answer), clock.Elapsed);
        }
    }

    [Fact]
    public async Task With_the_store_frozen_a_hello_is_welcomed_within_seconds_then_refused_as_unavailable()
    {
        var cluster = fixture.Cluster;
        var users = await fixture.UsersAsync(2, "w");
        var room = await fixture.RoomAsync(users);
        await using (var alice = await ClusterFixture.ConnectAsync(users[0], fixture.Nodes[0]))
        {
            Assert.Equal("ack", (await alice.SendMessageAsync(room, "before")).Op());
        }

        try
        {
            cluster.Postgres.Pause();
            await using var bob = await WsTestClient.ConnectAsync(fixture.Nodes[1].WsUri);
            var clock = Stopwatch.StartNew();
            await bob.SendAsync(new { op = "hello", token = users[1].Token });

            // The welcome waits for the hello's backlog, but not for a store that does not answer: the node's sweep
            // writes it one to two seconds after the hello. The store's own timeouts end the hello later (about 11 s here).
            var first = await bob.WaitForAsync(f => f.Op() is "welcome" or "synced" or "error", TimeSpan.FromSeconds(30));
            var welcomedAfter = clock.Elapsed;
            output.WriteLine($"first frame after {welcomedAfter.TotalMilliseconds:F0} ms: {first}");
            Assert.Equal("welcome", first.Op());
            Assert.True(welcomedAfter < TimeSpan.FromSeconds(5), $"welcome after {welcomedAfter}");

            var end = await bob.WaitForAsync(f => f.Op() is "synced" or "error", TimeSpan.FromSeconds(30));
            output.WriteLine($"then after {clock.ElapsedMilliseconds} ms: {end}");
            Assert.Equal("unavailable", end.Str("code"));
            Assert.DoesNotContain(bob.All, f => f.Op() is "msg" or "synced");
        }
        finally
        {
            cluster.Postgres.Resume();
            await cluster.HealAsync();
        }

        foreach (var node in fixture.Nodes)
        {
            await node.WaitReadyzAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        }

        // Back: the same user's hello gets the backlog and synced as ever.
        await using var again = await ClusterFixture.ConnectAsync(users[1], fixture.Nodes[1], new Dictionary<string, long> { [room] = 0 });
        Assert.Equal(["before"], again.All.Where(f => f.Op() == "msg").Select(f => f.Str("body")));
    }
}
