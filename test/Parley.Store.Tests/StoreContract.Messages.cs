using Xunit;
using static Parley.Store.Tests.TestData;

namespace Parley.Store.Tests;

/// <summary>Appends (seq allocation, idempotency, membership, atomicity) and history windows.</summary>
public abstract partial class StoreContract
{
    [Fact]
    public async Task Appends_get_gapless_seqs_from_1_in_request_order_and_round_trip_every_field()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice, bob);
        await NewRoomAsync("r2", alice, bob);
        var batch = new[]
        {
            Msg("r1", alice, "k1", "first ✓ ünïcødé 🎉"),
            Msg("r2", bob, "k1"),
            Msg("r1", bob, "k2"),
            Msg("r1", alice, "k3"),
        };

        var results = await Store.AppendBatchAsync(batch, Ct);

        Assert.All(results, r => Assert.Equal(AppendStatus.Stored, r.Status));
        Assert.Equal([1L, 1L, 2L, 3L], results.Select(r => r.Message!.Seq));
        for (var i = 0; i < batch.Length; i++)
        {
            var req = batch[i];
            var expected = new StoredMessage(req.Conv, results[i].Message!.Seq, req.MessageId, req.SenderId, req.SenderName, req.Body, req.Ts, req.ClientMsgId, req.Node);
            Assert.Equal(expected, results[i].Message);
        }

        Assert.Equal(results.Where(r => r.Message!.Conv == "r1").Select(r => r.Message), await AllMessagesAsync("r1"));
        Assert.Equal(3, await LastSeqAsync("r1"));
        Assert.Equal(1, await LastSeqAsync("r2"));
        Assert.Empty(await Store.AppendBatchAsync([], Ct));
    }

    [Fact]
    public async Task Concurrent_batches_allocate_every_seq_exactly_once()
    {
        const int Writers = 8, BatchesPerWriter = 10, PerBatch = 5;
        var users = new List<User>();
        for (var i = 0; i < Writers; i++)
        {
            users.Add(await NewUserAsync($"writer{i}"));
        }

        foreach (var conv in new[] { "a", "b", "c" })
        {
            await NewRoomAsync(conv, users[0], [.. users.Skip(1)]);
        }

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            var stored = new List<StoredMessage>();
            for (var b = 0; b < BatchesPerWriter; b++)
            {
                var batch = Enumerable.Range(0, PerBatch).Select(k => Msg("a", users[w], $"a-{w}-{b}-{k}"))
                    .Append(Msg("b", users[w], $"b-{w}-{b}"))
                    .Append(Msg("c", users[w], $"c-{w}-{b}"))
                    .OrderBy(_ => random.Next())
                    .ToArray();
                var results = await Store.AppendBatchAsync(batch, Ct);
                Assert.All(results, r => Assert.Equal(AppendStatus.Stored, r.Status));
                Assert.Equal(batch.Select(r => r.ClientMsgId), results.Select(r => r.Message!.ClientMsgId));
                foreach (var group in results.GroupBy(r => r.Message!.Conv))
                {
                    var seqs = group.Select(r => r.Message!.Seq).ToList();
                    Assert.Equal(seqs.Order(), seqs);
                }

                stored.AddRange(results.Select(r => r.Message!));
            }

            return stored;
        })).ToArray();
        var all = (await Task.WhenAll(writers)).SelectMany(m => m).ToList();

        var total = Writers * BatchesPerWriter * PerBatch;
        Assert.Equal(Seqs(1, total), all.Where(m => m.Conv == "a").Select(m => m.Seq).Order());
        Assert.Equal(Seqs(1, Writers * BatchesPerWriter), all.Where(m => m.Conv == "b").Select(m => m.Seq).Order());
        var history = await AllMessagesAsync("a");
        Assert.Equal(Seqs(1, total), history.Select(m => m.Seq));
        Assert.Equal(all.Where(m => m.Conv == "a").OrderBy(m => m.Seq), history);
        var heads = await Store.GetLastSeqsAsync(["a", "b", "c"], Ct);
        Assert.Equal(new Dictionary<string, long> { ["a"] = total, ["b"] = 80, ["c"] = 80 }, heads);
    }

    [Fact]
    public async Task A_retry_in_a_later_call_returns_the_original_message()
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);
        var original = await AppendStoredAsync(Msg("r1", alice, "k1", "original"));
        await AppendStoredAsync(Msg("r1", alice, "k2"));

        var retry = await AppendAsync(Msg("r1", alice, "k1", "changed body, new message id"));

        Assert.Equal(new AppendResult(AppendStatus.Duplicate, original), retry);
        Assert.Equal(2, await LastSeqAsync("r1"));
        Assert.Equal(2, (await AllMessagesAsync("r1")).Count);
    }

    [Fact]
    public async Task A_repeat_inside_one_batch_is_a_duplicate_of_the_first()
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);

        var results = await Store.AppendBatchAsync(
            [Msg("r1", alice, "k1", "one"), Msg("r1", alice, "k2"), Msg("r1", alice, "k1", "one again"), Msg("r1", alice, "k1")],
            Ct);

        Assert.Equal([AppendStatus.Stored, AppendStatus.Stored, AppendStatus.Duplicate, AppendStatus.Duplicate], results.Select(r => r.Status));
        Assert.Equal(results[0].Message, results[2].Message);
        Assert.Equal(results[0].Message, results[3].Message);
        Assert.Equal((1L, 2L, "one"), (results[0].Message!.Seq, results[1].Message!.Seq, results[0].Message!.Body));
        Assert.Equal(2, await LastSeqAsync("r1"));
    }

    [Fact]
    public async Task The_same_client_msg_id_from_another_sender_or_conversation_is_a_different_message()
    {
        var alice = await NewUserAsync("alice");
        var bob = await NewUserAsync("bob");
        await NewRoomAsync("r1", alice, bob);
        await NewRoomAsync("r2", alice, bob);

        var results = await Store.AppendBatchAsync([Msg("r1", alice, "same"), Msg("r1", bob, "same"), Msg("r2", alice, "same")], Ct);

        Assert.All(results, r => Assert.Equal(AppendStatus.Stored, r.Status));
        Assert.Equal([("r1", 1L), ("r1", 2L), ("r2", 1L)], results.Select(r => (r.Message!.Conv, r.Message.Seq)));
    }

    [Fact]
    public async Task A_non_member_append_is_refused_and_stores_nothing()
    {
        var alice = await NewUserAsync("alice");
        var mallory = await NewUserAsync("mallory");
        await NewRoomAsync("r1", alice);
        await AppendStoredAsync(Msg("r1", alice, "k0"));

        var results = await Store.AppendBatchAsync(
            [Msg("r1", mallory, "k1"), Msg("r1", alice, "k2"), Msg("missing", alice, "k3"), Msg("r1", mallory, "k4")],
            Ct);

        Assert.Equal(
            [(AppendStatus.NotMember, 0L), (AppendStatus.Stored, 2L), (AppendStatus.NotMember, 0L), (AppendStatus.NotMember, 0L)],
            results.Select(r => (r.Status, r.Message?.Seq ?? 0)));
        Assert.Null(results[0].Message);
        Assert.Equal(2, await LastSeqAsync("r1"));
        Assert.DoesNotContain(await AllMessagesAsync("r1"), m => m.From == mallory.Id);
        Assert.Empty(await AllMessagesAsync("missing"));
    }

    [Fact]
    public async Task A_batch_that_fails_midway_stores_nothing_of_it()
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);
        await NewRoomAsync("r2", alice);
        await AppendStoredAsync(Msg("r1", alice, "k0"));

        // A null body violates the schema: the store fails after earlier requests of the batch were written.
        var broken = Msg("r2", alice, "k3") with { Body = null! };
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Store.AppendBatchAsync([Msg("r1", alice, "k1"), Msg("r2", alice, "k2"), broken], Ct));

        Assert.IsNotType<StoreUnavailableException>(error);
        Assert.Equal(1, await LastSeqAsync("r1"));
        Assert.Equal(0, await LastSeqAsync("r2"));
        Assert.Single(await AllMessagesAsync("r1"));
        Assert.Empty(await AllMessagesAsync("r2"));
        var retried = await Store.AppendBatchAsync([Msg("r1", alice, "k1"), Msg("r2", alice, "k2")], Ct);
        Assert.Equal([(AppendStatus.Stored, 2L), (AppendStatus.Stored, 1L)], retried.Select(r => (r.Status, r.Message!.Seq)));
    }

    [Theory]
    [InlineData(null, null, 3, 8, 10, true)]
    [InlineData(null, null, 10, 1, 10, false)]
    [InlineData(null, null, 50, 1, 10, false)]
    [InlineData(null, null, int.MaxValue, 1, 10, false)]
    [InlineData(0L, null, int.MaxValue, 1, 10, false)]
    [InlineData(null, 5L, 2, 3, 4, true)]
    [InlineData(null, 3L, 5, 1, 2, false)]
    [InlineData(null, 1L, 5, 0, 0, false)]
    [InlineData(null, 99L, 2, 9, 10, true)]
    [InlineData(0L, null, 3, 1, 3, true)]
    [InlineData(7L, null, 2, 8, 9, true)]
    [InlineData(8L, null, 2, 9, 10, false)]
    [InlineData(10L, null, 5, 0, 0, false)]
    [InlineData(2L, 6L, 10, 3, 5, false)]
    [InlineData(2L, 6L, 2, 3, 4, true)]
    [InlineData(2L, 6L, 3, 3, 5, false)]
    [InlineData(5L, 6L, 3, 0, 0, false)]
    public async Task History_windows_page_in_both_directions(long? after, long? before, int limit, long first, long last, bool hasMore)
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);
        await NewRoomAsync("r2", alice);
        await Store.AppendBatchAsync([.. Enumerable.Range(1, 10).SelectMany(i => new[] { Msg("r1", alice, $"k{i}"), Msg("r2", alice, $"k{i}") })], Ct);

        var page = await Store.ReadMessagesAsync("r1", new HistoryQuery(after, before, limit), Ct);

        Assert.Equal(first == 0 ? [] : Seqs(first, last), page.Messages.Select(m => m.Seq));
        Assert.All(page.Messages, m => Assert.Equal(("r1", $"k{m.Seq}"), (m.Conv, m.ClientMsgId)));
        Assert.Equal(hasMore, page.HasMore);
    }

    [Fact]
    public async Task History_of_an_empty_or_unknown_conversation_is_empty()
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);

        var empty = await Store.ReadMessagesAsync("r1", new HistoryQuery(null, null, 50), Ct);
        Assert.Empty(empty.Messages);
        Assert.False(empty.HasMore);
        Assert.Empty((await Store.ReadMessagesAsync("missing", new HistoryQuery(0, null, 50), Ct)).Messages);
        Assert.False((await Store.ReadMessagesAsync("missing", new HistoryQuery(null, 10, 50), Ct)).HasMore);
    }

    [Fact]
    public async Task Last_seqs_are_reported_for_existing_conversations_only()
    {
        var alice = await NewUserAsync("alice");
        await NewRoomAsync("r1", alice);
        await NewRoomAsync("r2", alice);
        await Store.AppendBatchAsync([Msg("r1", alice, "k1"), Msg("r1", alice, "k2")], Ct);

        var heads = await Store.GetLastSeqsAsync(["r1", "r2", "missing"], Ct);

        Assert.Equal(new Dictionary<string, long> { ["r1"] = 2, ["r2"] = 0 }, heads);
        Assert.Empty(await Store.GetLastSeqsAsync([], Ct));
    }
}
