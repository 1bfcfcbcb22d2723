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
    public async Task Sends_answer_unavailable_within_5_s_and_readyz_is_503_and_after_recovery_sends_succeed_with_nothing_half_stored()
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
                await Eventually.HoldsAsync(() => ws.Seqs(room).Count >= 5, Wait, () => string.Join(",", ws.Seqs(room)));
                Assert.True(ws.Seqs(room).IsExactly1To(5), string.Join(",", ws.Seqs(room)));
            }
        }
        finally
        {
            await cluster.HealAsync();
        }
    }
}
