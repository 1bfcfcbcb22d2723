namespace Parley.Security.Tests;

/// <summary>
/// Ids (users, rooms, DMs, messages, connections) are opaque and unguessable: every random character is fresh
/// generator output, drawn from a per-thread buffer that never hands the same bytes out twice.
/// </summary>
[Trait("Tier", "Security")]
public sealed class IdTests
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

    [Theory]
    [InlineData("m", 20)]
    [InlineData("u", 16)]
    [InlineData("", 6)]
    [InlineData("x", 0)]
    [InlineData("big", 5000)]
    public void An_id_is_its_prefix_then_the_asked_number_of_characters_of_the_protocol_alphabet(string prefix, int chars)
    {
        var id = Ids.New(prefix, chars);

        Assert.Equal(prefix.Length + chars, id.Length);
        Assert.StartsWith(prefix, id, StringComparison.Ordinal);
        Assert.All(id[prefix.Length..], c => Assert.Contains(c, Alphabet));
    }

    [Fact]
    public void Ids_drawn_across_many_buffer_refills_and_threads_never_repeat_and_use_every_character_evenly()
    {
        // 8 threads × 5,000 ids of 20 characters: each thread refills its 4 KiB buffer about 25 times.
        var perThread = Enumerable.Range(0, 8).AsParallel().WithDegreeOfParallelism(8)
            .Select(_ => Enumerable.Range(0, 5_000).Select(_ => Ids.New("m", 20)).ToList())
            .ToList();
        var all = perThread.SelectMany(ids => ids).ToList();

        Assert.Equal(all.Count, all.Distinct(StringComparer.Ordinal).Count());

        // 800,000 characters over 64 symbols: 12,500 expected each; a stuck or reused buffer would skew this far.
        var counts = all.SelectMany(id => id[1..]).GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(64, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 11_500, 13_500));

        // Consecutive ids of one thread share no long run: a buffer position handed out twice would repeat 20 characters.
        foreach (var ids in perThread)
        {
            for (var i = 1; i < ids.Count; i++)
            {
                Assert.NotEqual(ids[i - 1][1..11], ids[i][1..11]);
            }
        }
    }
}
