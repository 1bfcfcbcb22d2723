using Microsoft.Extensions.Logging.Abstractions;
using Parley.Memory;
using Parley.Store.Sqlite;
using Parley.Testing;

namespace Parley.Server.Tests;

/// <summary>
/// A node without a web server, for tests that drive its hub and chat service directly: the embedded backends (SQLite
/// in a private folder, the in-memory bus and presence) unless the test brings its own bus or presence, or sees the
/// store through an interceptor.
/// </summary>
internal static class EmbeddedNode
{
    /// <summary>A SQLite store in a new folder whose name starts with <paramref name="folderPrefix"/>.</summary>
    public static SqliteChatStore NewStore(string folderPrefix) =>
        new(new SqliteStoreOptions { Path = Path.Combine(TestPorts.NewTempDir(folderPrefix), "parley.db") });

    /// <summary>Starts a node on <paramref name="store"/>; the in-memory bus and presence unless given.</summary>
    public static async Task<ParleyNode> StartAsync(IChatStore store, ParleyOptions options, IMessageBus? bus = null, IPresenceStore? presence = null)
    {
        var node = new ParleyNode(store, bus ?? new InMemoryBus(), presence ?? new InMemoryPresence(), options, NullLoggerFactory.Instance);
        try
        {
            await node.StartAsync(CancellationToken.None);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }
}
