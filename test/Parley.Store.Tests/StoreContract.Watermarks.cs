using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>Delivered and read watermarks.</summary>
public abstract partial class StoreContract
{
    private async Task<User> RoomWithMessagesAsync(int count)
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice, bob);
        await Store.AppendBatchAsync([.. Enumerable.Range(1, count).Select(i => Msg("r1", alice, $"k{i}"))], Ct);
        return bob;
    }

    [Fact]
    public async Task Watermarks_only_rise_and_read_raises_delivered()
    {
        var bob = await RoomWithMessagesAsync(5);

        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 2, 0, true, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Delivered, 2, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 2, 0, false, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Delivered, 1, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 3, 3, true, true), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 3, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 3, 3, false, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 2, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 5, 3, true, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Delivered, 5, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 5, 4, false, true), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 4, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 5, 4, false, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Delivered, 4, Ct));

        Assert.Equal(new Membership("r1", bob.Id, 5, 4), await Store.GetMembershipAsync("r1", bob.Id, Ct));
    }

    [Fact]
    public async Task A_batch_of_raises_applies_in_request_order_with_one_result_each()
    {
        var bob = await RoomWithMessagesAsync(5);
        var carol = await NewUserAsync("carol");
        var alice = (await Store.ListMemberIdsAsync("r1", Ct)).Single(id => id != bob.Id);

        var results = await Store.RaiseWatermarksAsync(
        [
            new WatermarkUpdate("r1", bob.Id, WatermarkKind.Delivered, 2),
            new WatermarkUpdate("r1", carol.Id, WatermarkKind.Read, 1),
            new WatermarkUpdate("r1", bob.Id, WatermarkKind.Read, 4),
            new WatermarkUpdate("r1", alice, WatermarkKind.Read, 9),
            new WatermarkUpdate("r1", bob.Id, WatermarkKind.Delivered, 3),
            new WatermarkUpdate("r1", alice, WatermarkKind.Delivered, 5),
        ], Ct);

        Assert.Equal(
            [
                new WatermarkResult(WatermarkStatus.Ok, 2, 0, true, false),
                new WatermarkResult(WatermarkStatus.NotMember, 0, 0, false, false),
                new WatermarkResult(WatermarkStatus.Ok, 4, 4, true, true),
                new WatermarkResult(WatermarkStatus.AboveHead, 0, 0, false, false),
                new WatermarkResult(WatermarkStatus.Ok, 4, 4, false, false),
                new WatermarkResult(WatermarkStatus.Ok, 5, 0, true, false),
            ],
            results);
        Assert.Equal(new Membership("r1", bob.Id, 4, 4), await Store.GetMembershipAsync("r1", bob.Id, Ct));
        Assert.Equal(new Membership("r1", alice, 5, 0), await Store.GetMembershipAsync("r1", alice, Ct));
        Assert.Empty(await Store.RaiseWatermarksAsync([], Ct));
    }

    [Fact]
    public async Task A_watermark_above_the_last_seq_is_refused()
    {
        var bob = await RoomWithMessagesAsync(3);
        await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 1, Ct);

        Assert.Equal(new WatermarkResult(WatermarkStatus.AboveHead, 1, 1, false, false), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 4, Ct));
        Assert.Equal(WatermarkStatus.AboveHead, (await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Delivered, 4, Ct)).Status);
        Assert.Equal(new Membership("r1", bob.Id, 1, 1), await Store.GetMembershipAsync("r1", bob.Id, Ct));
        Assert.Equal(new WatermarkResult(WatermarkStatus.Ok, 3, 3, true, true), await Store.RaiseWatermarkAsync("r1", bob.Id, WatermarkKind.Read, 3, Ct));
    }

    [Fact]
    public async Task A_watermark_of_a_non_member_is_refused()
    {
        await RoomWithMessagesAsync(3);
        var carol = await NewUserAsync("carol");

        Assert.Equal(WatermarkStatus.NotMember, (await Store.RaiseWatermarkAsync("r1", carol.Id, WatermarkKind.Read, 1, Ct)).Status);
        Assert.Equal(WatermarkStatus.NotMember, (await Store.RaiseWatermarkAsync("missing", carol.Id, WatermarkKind.Delivered, 1, Ct)).Status);
        Assert.Null(await Store.GetMembershipAsync("r1", carol.Id, Ct));
    }

    [Fact]
    public async Task Concurrent_raises_settle_on_the_highest_and_each_rise_is_reported_once()
    {
        var bob = await RoomWithMessagesAsync(40);

        var raises = Enumerable.Range(1, 40).OrderBy(_ => Random.Shared.Next())
            .Select(seq => Task.Run(() => Store.RaiseWatermarkAsync("r1", bob.Id, seq % 2 == 0 ? WatermarkKind.Read : WatermarkKind.Delivered, seq, Ct)));
        var results = await Task.WhenAll(raises);

        Assert.All(results, r => Assert.Equal(WatermarkStatus.Ok, r.Status));
        Assert.Equal(new Membership("r1", bob.Id, 40, 40), await Store.GetMembershipAsync("r1", bob.Id, Ct));
        // Every reported value is one the watermark really passed through, so the rises of each watermark form a chain.
        var readRises = results.Where(r => r.ReadRaised).Select(r => r.ReadSeq).ToList();
        Assert.Equal(readRises.Distinct().Count(), readRises.Count);
        Assert.Contains(40L, readRises);
    }
}
