using System.Globalization;

namespace Parley.Chaos.Scenarios;

/// <summary>Node 2 restarted 60 s behind and node 3 60 s ahead (libfaketime), for 30 s; then restarted on true time.</summary>
public sealed class ClockSkew : Scenario
{
    private const string FakeTimeLibrary = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

    public override string Name => "clock-skew";

    public override string Fault => "node 2 restarted with its clock 60 s behind and node 3 60 s ahead (libfaketime) for 30 s, then restarted on true time";

    public override string Expectation => "no token refused by a skewed node; order by seq unaffected; the skewed nodes' ts show the offset";

    public override async Task InjectAsync(RunContext ctx)
    {
        if (!File.Exists(FakeTimeLibrary))
        {
            throw new InvalidOperationException($"{FakeTimeLibrary} is missing: run eng/install-deps.sh (faketime)");
        }

        var (behind, ahead) = (ctx.Cluster.Nodes[1], ctx.Cluster.Nodes[2]);
        ctx.FaultStarted();
        var from = ctx.Now;
        await RestartAsync(behind, "-60s");
        await RestartAsync(ahead, "+60s");
        await Task.Delay(TimeSpan.FromSeconds(30));
        var to = ctx.Now;
        await RestartAsync(behind, null);
        await RestartAsync(ahead, null);
        ctx.FaultEnded();

        var refused = ctx.Workload.Clients.Sum(c => c.Drops.Count(d => d.At >= from && (d.Reason.Contains("4001", StringComparison.Ordinal) || d.Reason.Contains("unauthorized", StringComparison.Ordinal))));
        ctx.Figure("connections refused (4001)", $"{refused}");
        ctx.Expect(refused == 0, $"{refused} connections were refused as unauthorized while a node's clock was skewed");
        foreach (var node in new[] { behind, ahead })
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

    private static async Task RestartAsync(Parley.Testing.Cluster.ClusterNode node, string? offset)
    {
        await node.TerminateAsync();
        node.SetEnvironment("LD_PRELOAD", offset is null ? null : FakeTimeLibrary);
        node.SetEnvironment("FAKETIME", offset);
        node.SetEnvironment("FAKETIME_DONT_FAKE_MONOTONIC", offset is null ? null : "1");
        await node.StartAsync();
    }
}
