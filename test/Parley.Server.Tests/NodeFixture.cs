using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>One real node (Kestrel on loopback, SQLite in a temp folder) shared by a test class.</summary>
public sealed class NodeFixture : IAsyncLifetime
{
    public ParleyTestServer Server { get; private set; } = null!;

    public ApiClient Api { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ParleyTestServer.StartAsync();
        Api = new ApiClient(Server.BaseUri);
    }

    public async Task DisposeAsync()
    {
        Api.Dispose();
        await Server.DisposeAsync();
    }

    public Task<WsTestClient> HelloAsync(TestUser user, object? resume = null) => WsTestClient.ConnectAndHelloAsync(Server.WsUri, user.Token, resume);
}
