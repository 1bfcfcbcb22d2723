using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>A node whose hello reads are admitted one batch at a time, so concurrent hellos must share batches.</summary>
public sealed class NarrowReadsNodeFixture : NodeFixture
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["StoreReadConcurrency"] = "2",
        ["SendRatePerSecond"] = "1000000",
        ["SendBurst"] = "1000000",
    };
}

/// <summary>Many hellos at once (a reconnect storm in small): each still gets exactly its own backlog, then synced.</summary>
[Trait("Tier", "Server")]
public sealed class HelloBurstTests(NarrowReadsNodeFixture node) : IClassFixture<NarrowReadsNodeFixture>
{
    [Fact]
    public async Task Concurrent_hellos_each_get_their_own_backlog_from_their_cursor_then_synced_then_live()
    {
        var (room, users) = await node.RoomWithAsync(30);
        var other = await node.Api.CreateRoomAsync(users[1], "other", false);
        await using (var a = await node.HelloAsync(users[0]))
        {
            for (var i = 1; i <= 25; i++)
            {
                await a.SendMessageAsync(room, "m" + i);
            }
        }

        await using (var b = await node.HelloAsync(users[1]))
        {
            await b.SendMessageAsync(other, "only in other");
        }

        // Every member but the sender says hello at once, each with its own cursor (some none: the delivered watermark).
        var members = users.Skip(1).ToList();
        var cursors = members.Select((_, i) => i % 3 == 0 ? (long?)null : i % 26).ToList();
        var hellos = members.Select((u, i) => Task.Run(() => cursors[i] is long c
            ? node.HelloAsync(u, new Dictionary<string, long> { [room] = c })
            : node.HelloAsync(u))).ToList();
        var clients = await Task.WhenAll(hellos);
        try
        {
            for (var i = 0; i < clients.Length; i++)
            {
                var all = clients[i].All.SkipWhile(f => f.Op() != "welcome").ToList();
                Assert.DoesNotContain(all, f => f.Op() == "error");
                // The backlog comes before synced; other members' presence may follow it.
                var synced = all.FindIndex(f => f.Op() == "synced");
                Assert.True(synced > 0);
                Assert.DoesNotContain(all.Skip(synced), f => f.Op() == "msg");
                var frames = all.Take(synced).ToList();
                var from = (cursors[i] ?? 0) + 1;
                Assert.Equal(
                    Enumerable.Range((int)from, 25 - (int)from + 1).Select(s => (long)s),
                    frames.Where(f => f.Op() == "msg" && f.Str("conv") == room).Select(f => f.Long("seq")));
                Assert.Equal(i == 0 ? 1 : 0, frames.Count(f => f.Op() == "msg" && f.Str("conv") == other));
            }

            // Live delivery continues from the backlog: the next seq, once, on every connection.
            await using var sender = await node.HelloAsync(users[0]);
            await sender.SendMessageAsync(room, "m26");
            foreach (var c in clients)
            {
                await c.WaitForAsync(f => f.Op() == "msg" && f.Long("seq") == 26);
                Assert.Single(c.All, f => f.Op() == "msg" && f.Str("conv") == room && f.Long("seq") == 26);
            }
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }
}
