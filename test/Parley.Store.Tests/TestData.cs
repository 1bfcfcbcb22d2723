namespace Parley.Store.Tests;

/// <summary>Users and append requests as the tests build them.</summary>
internal static class TestData
{
    public const long T0 = 1_700_000_000_000;

    public static User NewUser(string name) => new("u-" + name, name, "hash-of-" + name, T0);

    public static AppendRequest Msg(string conv, User from, string clientMsgId, string? body = null) =>
        new(conv, from.Id, from.Username, clientMsgId, "m-" + Guid.NewGuid().ToString("N")[..16], body ?? "hello " + clientMsgId, T0 + 1, "node-a");

    public static IEnumerable<long> Seqs(long from, long to) =>
        from > to ? [] : Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => (long)i);
}
