using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Server.Hosting;

namespace Parley.Testing;

/// <summary>
/// A real Parley node on a real Kestrel, listening on a free loopback port, configured like production except for
/// the given overrides (defaults: SQLite in a private temp folder, fast password hashing).
/// </summary>
public sealed class ParleyTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string? _ownedFolder;

    private ParleyTestServer(WebApplication app, string? ownedFolder)
    {
        _app = app;
        _ownedFolder = ownedFolder;
    }

    /// <summary>The base address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>The WebSocket endpoint.</summary>
    public Uri WsUri => new(BaseUri.ToString().Replace("http", "ws", StringComparison.Ordinal) + "ws");

    /// <summary>The node core, for assertions on its state.</summary>
    public ParleyNode Node => _app.Services.GetRequiredService<ParleyNode>();

    /// <summary>Starts a node; <paramref name="settings"/> are <c>Parley:*</c> keys without the prefix (e.g. "SendBurst").</summary>
    public static async Task<ParleyTestServer> StartAsync(IDictionary<string, string?>? settings = null, int port = 0)
    {
        var args = new List<string> { "--urls", $"http://127.0.0.1:{port}" };
        args.AddRange(InProcessNode.ParleyArguments(settings, "node", drainSeconds: 2, out var folder));
        var app = ParleyServer.Build([.. args], b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        var server = new ParleyTestServer(app, folder);
        await app.StartAsync();
        server.BaseUri = InProcessNode.BaseUri(app);
        return server;
    }

    /// <summary>Stops the node gracefully (drain with 1012) and deletes its private folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
            InProcessNode.DeleteFolder(_ownedFolder);
        }
    }
}
