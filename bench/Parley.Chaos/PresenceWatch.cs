using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Chaos;

/// <summary>
/// A "ghost" (a raw connection straight to one node, which never reconnects) and an observer on another node that
/// shares a DM with it: the observer's presence frames say when the cluster noticed the ghost was gone.
/// </summary>
public sealed class PresenceWatch : IAsyncDisposable
{
    private PresenceWatch(TestUser ghost, WsTestClient? ghostWs, WsTestClient observerWs)
    {
        Ghost = ghost;
        GhostWs = ghostWs;
        ObserverWs = observerWs;
    }

    public TestUser Ghost { get; }

    public WsTestClient? GhostWs { get; }

    public WsTestClient ObserverWs { get; }

    /// <summary>Watches a user whose connection the caller holds itself.</summary>
    public static PresenceWatch Of(TestUser user, WsTestClient observerWs) => new(user, null, observerWs);

    public static async Task<PresenceWatch> StartAsync(RunContext ctx, ClusterNode ghostNode, ClusterNode observerNode)
    {
        var ghost = await ctx.ExtraUserAsync("ghost");
        var observer = await ctx.ExtraUserAsync("observer");
        await ctx.Cluster.Api.OpenDmAsync(observer, ghost.Username);
        var observerWs = await WsTestClient.ConnectAndHelloAsync(observerNode.WsUri, observer.Token);
        var ghostWs = await WsTestClient.ConnectAndHelloAsync(ghostNode.WsUri, ghost.Token);
        await observerWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == ghost.UserId && f.Str("status") == "online", TimeSpan.FromSeconds(20));
        return new PresenceWatch(ghost, ghostWs, observerWs);
    }

    /// <summary>Seconds from <paramref name="since"/> (run time) until the observer is told the ghost is offline; null on timeout.</summary>
    public async Task<double?> OfflineAfterAsync(RunContext ctx, double since, TimeSpan timeout)
    {
        try
        {
            await ObserverWs.WaitForAsync(f => f.Op() == "presence" && f.Str("userId") == Ghost.UserId && f.Str("status") == "offline", timeout);
            return ctx.Now - since;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (GhostWs is not null)
        {
            await GhostWs.DisposeAsync();
        }

        await ObserverWs.DisposeAsync();
    }
}
