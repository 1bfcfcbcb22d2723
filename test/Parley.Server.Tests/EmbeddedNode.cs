using Microsoft.Extensions.Logging.Abstractions;
using Parley.Memory;
using Parley.Protocol;
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

    /// <summary>Users "ann" and "ben", both members of a public room "kept" that Ann owns.</summary>
    public static async Task<(UserRef Ann, UserRef Ben, ConversationDto Room)> AnnAndBenInARoomAsync(this ParleyNode node)
    {
        var (ann, ben) = (await StoreUsers.CreateAsync(node.Store, "ann"), await StoreUsers.CreateAsync(node.Store, "ben"));
        var room = await node.Chat.CreateRoomAsync(ann, "kept", isPrivate: false);
        await node.Chat.AddMemberAsync(ann, room.Id, ben.Username);
        return (ann, ben, room);
    }

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
