namespace Parley.Chaos.Scenarios;

/// <summary>kill -9 of the busiest node; restarted 10 s later.</summary>
public sealed class NodeKill : Scenario
{
    private PresenceWatch? _watch;

    public override string Name => "node-kill";

    public override string Fault => "kill -9 of the node with the most clients; restarted 10 s later";

    public override string Expectation => "its clients reconnect elsewhere with p99 < 2 s; its users leave presence within one TTL (2 s, + 1.5 s for the sweeping heartbeat)";

    public override async Task InjectAsync(RunContext ctx)
    {
        var victim = ctx.BusiestNode();
        var survivor = ctx.Cluster.Nodes.First(n => n != victim);
        _watch = await PresenceWatch.StartAsync(ctx, victim, survivor);
        ctx.ExtraOnline = 1;
        var onVictim = ctx.Workload.Clients.Where(c => c.Sdk.NodeId == victim.Id).ToList();
        ctx.FaultStarted();
        var killedAt = ctx.Now;
        await victim.KillAsync();
        var offline = await _watch.OfflineAfterAsync(ctx, killedAt, TimeSpan.FromSeconds(15));
        await Task.Delay(TimeSpan.FromSeconds(10) - TimeSpan.FromSeconds(ctx.Now - killedAt));
        var reconnects = onVictim.Select(c => c.SyncedAfter(killedAt) is { } s ? s - killedAt : (double?)null).ToList();
        await RunContext.StartNodeAsync(victim);
        ctx.FaultEnded();

        var done = reconnects.Where(r => r is not null).Select(r => r!.Value).ToList();
        var p99 = Percentile.Of(done, 0.99);
        ctx.Figure("clients on the killed node", $"{onVictim.Count}");
        ctx.Figure("reconnect p50 (kill to synced)", Percentile.Of(done, 0.5));
        ctx.Figure("reconnect p99", p99);
        ctx.Figure("dead node's user offline after", offline);
        ctx.Expect(done.Count == onVictim.Count, $"{onVictim.Count - done.Count} clients of the killed node had not resynced within 10 s");
        ctx.ExpectTimely(p99 < 2, $"reconnect p99 {p99:F2} s ≥ 2 s");
        ctx.ExpectTimely(offline < 3.5, $"the dead node's user went offline after {offline?.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ?? "never"} s (TTL 2 s)");
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
