namespace Parley.Chaos.Scenarios;

/// <summary>SIGSTOP of the busiest node for 20 s, then SIGCONT: a zombie that comes back.</summary>
public sealed class NodeFreeze : Scenario
{
    private PresenceWatch? _watch;

    public override string Name => "node-freeze";

    public override string Fault => "SIGSTOP of the node with the most clients for 20 s, then SIGCONT";

    public override string Expectation => "its users leave presence within one TTL; its SDK clients notice (ping timeout) and move; the thawed zombie resurrects no presence (online count exact after heal)";

    public override async Task InjectAsync(RunContext ctx)
    {
        var victim = ctx.BusiestNode();
        var survivor = ctx.Cluster.Nodes.First(n => n != victim);
        _watch = await PresenceWatch.StartAsync(ctx, victim, survivor);
        var onVictim = ctx.Workload.Clients.Where(c => c.Sdk.NodeId == victim.Id).ToList();
        ctx.FaultStarted();
        var frozenAt = ctx.Now;
        victim.Pause();
        var offline = await _watch.OfflineAfterAsync(ctx, frozenAt, TimeSpan.FromSeconds(15));
        await Task.Delay(TimeSpan.FromSeconds(20) - TimeSpan.FromSeconds(ctx.Now - frozenAt));
        var moved = onVictim.Select(c => c.DroppedAfter(frozenAt) is { } d ? d - frozenAt : (double?)null).Where(d => d is not null).Select(d => d!.Value).ToList();
        victim.Resume();
        ctx.FaultEnded();

        // The ghost's socket is still open on the thawed node: it is legitimately online again (and so is the
        // observer); the SDK clients that moved away must not be counted twice or left behind.
        ctx.ExtraOnline = 2;
        ctx.Figure("clients on the frozen node", $"{onVictim.Count}");
        ctx.Figure("moved off it within 20 s", $"{moved.Count}");
        ctx.Figure("noticed the freeze after (p50)", Percentile.Of(moved, 0.5));
        ctx.Figure("frozen node's user offline after", offline);
        ctx.ExpectTimely(offline < 3.5, $"the frozen node's user went offline after {offline?.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ?? "never"} s (TTL 2 s)");
    }

    public override async ValueTask DisposeAsync()
    {
        if (_watch is not null)
        {
            await _watch.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}
