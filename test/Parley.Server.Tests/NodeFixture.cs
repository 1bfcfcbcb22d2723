using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>One real node (Kestrel on loopback, SQLite in a temp folder) shared by a test class.</summary>
public class NodeFixture : IAsyncLifetime
{
    public ParleyTestServer Server { get; private set; } = null!;

    public ApiClient Api { get; private set; } = null!;

    protected virtual IDictionary<string, string?>? Settings => null;

    public async Task InitializeAsync()
    {
        Server = await ParleyTestServer.StartAsync(Settings);
        Api = new ApiClient(Server.BaseUri);
    }

    public async Task DisposeAsync()
    {
        Api.Dispose();
        await Server.DisposeAsync();
    }

    public Task<WsTestClient> HelloAsync(TestUser user, object? resume = null) => WsTestClient.ConnectAndHelloAsync(Server.WsUri, user.Token, resume);

    /// <summary>Registers users and a public room owned by the first, joined by the others.</summary>
    public async Task<(string Room, TestUser[] Users)> RoomWithAsync(int members, bool isPrivate = false)
    {
        var users = new TestUser[members];
        for (var i = 0; i < members; i++)
        {
            users[i] = await Api.RegisterAsync("u" + i);
        }

        var room = await Api.CreateRoomAsync(users[0], "room", isPrivate);
        foreach (var u in users.Skip(1))
        {
            var answer = isPrivate ? await Api.AddMemberAsync(users[0], room, u.Username) : await Api.JoinAsync(u, room);
            if (answer.Status != System.Net.HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"join failed: {answer.Status} {answer.Body}");
            }
        }

        return (room, users);
    }
}

/// <summary>A node without practical send limits, for volume tests.</summary>
public sealed class UnlimitedNodeFixture : NodeFixture
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["SendRatePerSecond"] = "1000000",
        ["SendBurst"] = "1000000",
    };
}
