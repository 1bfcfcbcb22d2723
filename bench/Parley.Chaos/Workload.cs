using System.Globalization;
using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Chaos;

/// <summary>
/// The users of one run: every user is a member of one of the rooms and of one DM, and runs an SDK client. The first
/// room is the busy one (where the slow-reader fault sits).
/// </summary>
public sealed class Workload : IAsyncDisposable
{
    private readonly List<ChaosClient> _clients = [];

    private Workload(Ledger ledger, IReadOnlyList<TestUser> users, IReadOnlyDictionary<string, IReadOnlyList<int>> members, IReadOnlyList<string> rooms)
    {
        Ledger = ledger;
        Users = users;
        Members = members;
        Rooms = rooms;
        ConvsOf = users.Select((_, i) => members.Where(kv => kv.Value.Contains(i)).Select(kv => kv.Key).ToList()).ToList();
    }

    public Ledger Ledger { get; }

    public Timeline Timeline { get; } = new();

    public Latencies Latencies { get; } = new();

    public IReadOnlyList<TestUser> Users { get; }

    /// <summary>Each conversation's members, as user indexes.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<int>> Members { get; }

    public IReadOnlyList<string> Rooms { get; }

    /// <summary>Each user's conversations.</summary>
    public IReadOnlyList<List<string>> ConvsOf { get; }

    /// <summary>The connected clients (index = user index), once <see cref="ConnectAsync"/> ran.</summary>
    public IReadOnlyList<ChaosClient> Clients => _clients;

    /// <summary>Registers the users, creates the rooms and DMs (through nginx).</summary>
    /// <remarks>Users from <paramref name="users"/> on (<paramref name="idle"/> of them) are only in DMs with each other.</remarks>
    public static async Task<Workload> CreateAsync(ParleyCluster cluster, int users, int rooms, string prefix, int idle = 0)
    {
        var registered = await ParallelAsync(Enumerable.Range(0, users + idle), 8, i => cluster.Api.RegisterAsync($"{prefix}{i.ToString(CultureInfo.InvariantCulture)}_"));
        var roomIds = new List<string>();
        var members = new Dictionary<string, IReadOnlyList<int>>(StringComparer.Ordinal);
        for (var r = 0; r < rooms; r++)
        {
            var owner = r;
            var room = await cluster.Api.CreateRoomAsync(registered[owner], $"room {r.ToString(CultureInfo.InvariantCulture)}");
            roomIds.Add(room);
            var ids = Enumerable.Range(0, users).Where(i => i % rooms == r).ToList();
            await ParallelAsync(ids.Where(i => i != owner), 8, async i =>
            {
                var answer = await cluster.Api.JoinAsync(registered[i], room);
                return answer.Status == System.Net.HttpStatusCode.OK ? i : throw new InvalidOperationException($"join {room}: {answer.Status} {answer.Body}");
            });
            members[room] = ids;
        }

        var pairs = Enumerable.Range(0, (users + idle) / 2).ToList();
        var dms = await ParallelAsync(pairs, 8, k => cluster.Api.OpenDmAsync(registered[2 * k], registered[(2 * k) + 1].Username));
        for (var k = 0; k < pairs.Count; k++)
        {
            members[dms[k]] = [2 * k, (2 * k) + 1];
        }

        return new Workload(new Ledger(), registered, members, roomIds);
    }

    /// <summary>Connects one SDK client per user; <paramref name="baseUriOf"/> picks each one's address (nginx or a proxy).</summary>
    public async Task ConnectAsync(Func<int, Uri> baseUriOf)
    {
        var clients = await ParallelAsync(Enumerable.Range(0, Users.Count), 16, i => ChaosClient.ConnectAsync(i, Users[i], baseUriOf(i), Ledger, Timeline, Latencies));
        _clients.AddRange(clients);
    }

    /// <summary>Runs <paramref name="work"/> over <paramref name="items"/> with at most <paramref name="width"/> at once; results in input order.</summary>
    public static async Task<List<T>> ParallelAsync<TIn, T>(IEnumerable<TIn> items, int width, Func<TIn, Task<T>> work)
    {
        using var gate = new SemaphoreSlim(width);
        var tasks = items.Select(async item =>
        {
            await gate.WaitAsync();
            try
            {
                return await work(item);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        return [.. await Task.WhenAll(tasks)];
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_clients.Select(c => c.DisposeAsync().AsTask()));
    }
}
