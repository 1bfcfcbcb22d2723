namespace Parley.Testing;

/// <summary>Users written straight into a store, for tests that drive a node without the REST API.</summary>
public static class StoreUsers
{
    /// <summary>Creates a user named <paramref name="name"/> plus a unique suffix (no password anyone can use).</summary>
    public static async Task<UserRef> CreateAsync(IChatStore store, string name)
    {
        ArgumentNullException.ThrowIfNull(store);
        var id = Ids.New("u");
        var username = (name + id[^6..]).ToLowerInvariant();
        await store.CreateUserAsync(new User(id, username, "x", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), CancellationToken.None);
        return new UserRef(id, username);
    }
}
