namespace Parley.Chaos.Scenarios;

/// <summary>Every node in turn: SIGTERM (drain, 1012), start again, 3 s pause.</summary>
public sealed class RollingRestart : Scenario
{
    public override string Name => "rolling-restart";

    public override string Fault => "every node in turn: SIGTERM (graceful drain, sockets closed with 1012), started again, 3 s pause";

    public override string Expectation => "clients closed with 1012 resume on other nodes";

    public override async Task InjectAsync(RunContext ctx)
    {
        ctx.FaultStarted();
        var from = ctx.Now;
        foreach (var node in ctx.Cluster.Nodes)
        {
            await node.TerminateAsync();
            await RunContext.StartNodeAsync(node);
            await Task.Delay(TimeSpan.FromSeconds(3));
        }

        ctx.FaultEnded();
        var drained = ctx.Workload.Clients.Count(c => c.Drops.Any(d => d.At >= from && d.Reason.Contains("1012", StringComparison.Ordinal)));
        var reconnects = ctx.ReconnectTimes(ctx.Workload.Clients, from);
        ctx.Figure("clients closed with 1012", $"{drained}");
        ctx.Figure("reconnect p99 (drop to synced)", Percentile.Of(reconnects, 0.99));
        ctx.Expect(drained > 0, "no client saw a 1012 close");
    }
}
