using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A leave takes effect on the node it was made through before the leaver is answered, whatever the bus does: the
/// room's sessions there hear of it once, and nothing of the room reaches the leaver's sessions there afterwards.
/// </summary>
[Trait("Tier", "Server")]
public sealed class LeaveTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_leave_takes_effect_on_its_node_before_the_answer_whether_or_not_the_bus_carries_it(bool busDropsIt)
    {
        var bus = new LeaveDroppingBus { Dropping = busDropsIt };
        // No head checks or reconciliation: only the leave itself can have told the sessions.
        var options = new ParleyOptions { HeadCheckIntervalMs = 600_000, PresenceOfflineGraceMs = 0 };
        await using var node = await EmbeddedNode.StartAsync(EmbeddedNode.NewStore("leave"), options, bus: bus);
        var (ann, ben, room) = await node.AnnAndBenInARoomAsync();
        var annLog = (await node.Hub.AttachRecordedAsync(ann)).Log;
        var (benSession, benLog) = await node.Hub.AttachRecordedAsync(ben);
        await node.Chat.SendAsync(ann, room.Id, "k0", "before the leave");
        await benLog.WaitForAsync(room.Id, 1);

        await node.Chat.LeaveAsync(ben, room.Id);

        // Answered: Ben's session no longer holds the room (his typing goes to the store, which refuses it), and the
        // "left" notice is on its way to both sessions, after what the room had queued before.
        var refused = await Assert.ThrowsAsync<ParleyException>(() => node.Chat.TypingAsync(benSession, room.Id));
        Assert.Equal("not_found", refused.Code);
        await benLog.WaitForAsync(f => f.IsLeftOf(room.Id, ben.UserId));
        await annLog.WaitForAsync(f => f.IsLeftOf(room.Id, ben.UserId));

        await node.Chat.SendAsync(ann, room.Id, "k1", "after the leave");
        await annLog.WaitForAsync(room.Id, 2);
        await Task.Delay(200);
        Assert.Equal([1L], benLog.Seqs(room.Id));
        Assert.Equal(busDropsIt ? 0 : 1, bus.LeavesCarried);
        Assert.Equal(1, annLog.Count(f => f.IsLeftOf(room.Id, ben.UserId)));
        Assert.Equal(1, benLog.Count(f => f.IsLeftOf(room.Id, ben.UserId)));
    }

    /// <summary>The in-memory bus, losing every leave event while <see cref="Dropping"/> (as a broker that is down would).</summary>
    private sealed class LeaveDroppingBus : InMemoryBusDecorator
    {
        private int _leavesCarried;

        public bool Dropping { get; init; }

        public int LeavesCarried => Volatile.Read(ref _leavesCarried);

        public override bool Publish(BusTopic topic, BusEvent evt)
        {
            if (evt.Kind != BusEventKind.MemberLeft)
            {
                return Inner.Publish(topic, evt);
            }

            if (Dropping)
            {
                return false;
            }

            Interlocked.Increment(ref _leavesCarried);
            return Inner.Publish(topic, evt);
        }
    }
}
