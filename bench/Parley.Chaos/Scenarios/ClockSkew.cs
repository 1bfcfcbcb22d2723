using System.Globalization;
using Parley.Testing.Cluster;

namespace Parley.Chaos.Scenarios;

/// <summary>Node 2 runs 60 s behind and node 3 60 s ahead (libfaketime) for the whole run.</summary>
public sealed class ClockSkew : Scenario
{
    private const string FakeTimeLibrary = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

    public override string Name => "clock-skew";

    public override string Fault => "node 2 runs with its clock 60 s behind and node 3 60 s ahead (libfaketime) for the whole run; the true-time node is drained once so its clients move to the skewed ones";

    public override string Expectation => "no token refused by a skewed node; order by seq unaffected; the skewed nodes' ts show the offset";

    public override NodeOverrides? ConfigureNode(ParleyCluster cluster, int node)
    {
        if (!File.Exists(FakeTimeLibrary))
        {
            throw new InvalidOperationException($"{FakeTimeLibrary} is missing: run eng/install-deps.sh (faketime)");
        }

        var offset = node switch { 2 => "-60s", 3 => "+60s", _ => null };
        return offset is null ? null : new NodeOverrides(
            new Dictionary<string, string>(),
            new Dictionary<string, string> { ["LD_PRELOAD"] = FakeTimeLibrary, ["FAKETIME"] = offset, ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1" });
    }

    public override async Task InjectAsync(RunContext ctx)
    {
        // The skew holds from the cluster's start (tokens, rooms and DMs were made on skewed nodes too); the shaded
        // window is the stretch measured here, which includes one drain of the true-time node so clients land on the
        // skewed ones with tokens they did not issue.
        ctx.FaultStarted();
        var from = ctx.Now;
        await Task.Delay(TimeSpan.FromSeconds(10));
        var trueTime = ctx.Cluster.Nodes[0];
        await trueTime.TerminateAsync();
        await RunContext.StartNodeAsync(trueTime);
        await Task.Delay(TimeSpan.FromSeconds(15));
        var to = ctx.Now;
        ctx.FaultEnded();

        var refused = ctx.Workload.Clients.Sum(c => c.Drops.Count(d => d.Reason.Contains("4001", StringComparison.Ordinal) || d.Reason.Contains("unauthorized", StringComparison.Ordinal)));
        ctx.Figure("connections refused (4001)", $"{refused}");
        ctx.Expect(refused == 0, $"{refused} connections were refused as unauthorized while a node's clock was skewed");
        foreach (var node in ctx.Cluster.Nodes)
        {
            ctx.Figure($"ts offset of {node.Id[^2..]}", await OffsetAsync(ctx, node.Id, from, to));
        }
    }

    // The median of (message ts − real send time) over what the node accepted during the window: proof the skew held.
    private static async Task<string> OffsetAsync(RunContext ctx, string nodeId, double from, double to)
    {
        var offsets = new List<double>();
        var w = ctx.Workload;
        foreach (var (conv, members) in w.Members.Take(w.Rooms.Count))
        {
            foreach (var m in await ctx.Cluster.Api.AllMessagesAsync(w.Users[members[0]], conv))
            {
                if (m.GetProperty("node").GetString() == nodeId && w.Ledger.Find(conv, m.GetProperty("clientMsgId").GetString()) is { } s && s.SentAt >= from && s.SentAt < to)
                {
                    offsets.Add((m.GetProperty("ts").GetInt64() - s.SentWallMs) / 1000.0);
                }
            }
        }

        var median = Percentile.Of(offsets, 0.5);
        return median is { } v ? $"{v.ToString("+0.0;-0.0", CultureInfo.InvariantCulture)} s (median of {offsets.Count})" : "n/a";
    }
}
