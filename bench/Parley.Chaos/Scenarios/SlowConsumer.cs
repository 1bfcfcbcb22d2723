using System.Globalization;
using Parley.Testing;

namespace Parley.Chaos.Scenarios;

/// <summary>A member of the busy room stops reading while that room carries 4 KB messages at 40 per second.</summary>
public sealed class SlowConsumer : Scenario
{
    private const int Blasters = 8;
    private const double PerBlaster = 10;
    private const int BodyChars = 4000;
    private PresenceWatch? _watch;

    public override string Name => "slow-reader";

    public override string Fault => $"in the busy room (up to {Blasters} members sending {PerBlaster} × 4 KB messages/s each), a member stops reading its socket (direct to node 1, 4 KB receive buffer)";

    public override string Expectation => "closed with 4008 within 10 s; the node's memory stays bounded (RSS growth reported); others' delivery p99 reported before and during";

    public override async Task InjectAsync(RunContext ctx)
    {
        var w = ctx.Workload;
        var room = w.Rooms[0];
        var node = ctx.Cluster.Nodes[0];
        var slow = await ctx.ExtraUserAsync("slow");
        await ctx.Cluster.Api.JoinAsync(slow, room);
        _watch = await WatchAsync(ctx, slow);
        using var stop = new CancellationTokenSource();
        var blasters = w.Members[room].Take(Blasters).ToList();
        var blasting = ctx.Driver.BlastAsync(room, blasters, PerBlaster, BodyChars, stop.Token);
        var baselineFrom = ctx.Now;
        await Task.Delay(TimeSpan.FromSeconds(10));

        ctx.FaultStarted();
        var from = ctx.Now;
        var rssBefore = Rss(node.Pid);
        using var reader = await SlowReader.ConnectAsync(node.Port, slow.Token);
        var peak = rssBefore;
        double? closedAfter = null, offlineAfter = null;
        while (ctx.Now - from < 25 && offlineAfter is null)
        {
            peak = Math.Max(peak, Rss(node.Pid));
            if (closedAfter is null && !reader.IsEstablished)
            {
                closedAfter = ctx.Now - from;
            }

            if (_watch.ObserverWs.All.Any(f => f.Op() == "presence" && f.Str("userId") == slow.UserId && f.Str("status") == "offline"))
            {
                offlineAfter = ctx.Now - from;
            }

            await Task.Delay(100);
        }

        await stop.CancelAsync();
        await blasting;
        ctx.FaultEnded();
        var code = await reader.CloseCodeAsync(TimeSpan.FromSeconds(5));
        var baseline = w.Latencies.P99(baselineFrom + 2, from);
        var during = w.Latencies.P99(from, from + (closedAfter ?? 25));
        ctx.Figure("socket closed by the server after", closedAfter);
        ctx.Figure("its user offline for others after", offlineAfter);
        ctx.Figure("close code seen by the reader", code?.ToString(CultureInfo.InvariantCulture) ?? "none read");
        ctx.Figure("node RSS growth until the close", $"{(peak - rssBefore) / 1024.0:F1} MB");
        ctx.Figure("others' delivery p99 before", baseline, "ms");
        ctx.Figure("others' delivery p99 while it stalled", during, "ms");
        if (baseline is > 0 && during is { } d)
        {
            ctx.Figure("p99 shift", $"{(d - baseline.Value) / baseline.Value * 100:+0;-0} %");
        }

        ctx.ExpectTimely(closedAfter <= 10, $"the slow reader's socket was not closed within 10 s ({closedAfter?.ToString("F1", CultureInfo.InvariantCulture) ?? "not within 25 s"})");
        ctx.Expect(code is null or 4008, $"the slow reader was closed with {code}, not 4008");
    }

    public override async ValueTask DisposeAsync()
    {
        if (_watch is not null)
        {
            await _watch.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    private static async Task<PresenceWatch> WatchAsync(RunContext ctx, TestUser slow)
    {
        var observer = await ctx.ExtraUserAsync("observer");
        await ctx.Cluster.Api.OpenDmAsync(observer, slow.Username);
        var observerWs = await WsTestClient.ConnectAndHelloAsync(ctx.Cluster.Nodes[1].WsUri, observer.Token);
        ctx.ExtraOnline = 1;
        return PresenceWatch.Of(slow, observerWs);
    }

    // Resident set size of a process, in KiB.
    private static long Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
