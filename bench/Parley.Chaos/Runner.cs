using System.Globalization;
using Parley.Testing.Cluster;

namespace Parley.Chaos;

/// <summary>The outcome of one scenario.</summary>
public sealed record ScenarioResult(
    Scenario Scenario,
    Verdict Verdict,
    IReadOnlyList<(string Name, string Value)> Figures,
    IReadOnlyList<string> Violations,
    IReadOnlyList<string> Findings,
    IReadOnlyList<Timeline.Bucket> Seconds,
    double? FaultStart,
    double? FaultEnd,
    double Duration)
{
    public bool Passed => Verdict.Clean && Violations.Count == 0;

    /// <summary>A scenario whose run broke before it could be checked.</summary>
    public static ScenarioResult Failed(Scenario scenario, Exception e) =>
        new(scenario, new Verdict(0, 0, 0, 0, 0, 0, 0, 0), [], ["the run failed: " + e.Message.Split('\n')[0]], [], [], null, null, 0);
}

/// <summary>Runs one scenario on a fresh cluster: load, fault, heal, catch up, check.</summary>
public static class Runner
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(90);

    public static async Task<ScenarioResult> RunAsync(Scenario scenario, CampaignOptions options)
    {
        var started = DateTime.UtcNow;
        RunContext.Log($"{scenario.Name}: starting a 3-node cluster");
        await using var cluster = await StartClusterAsync(scenario);
        try
        {
            return await RunOnAsync(cluster, scenario, options, started);
        }
        catch
        {
            Console.Error.WriteLine(cluster.Diagnostics(15));
            throw;
        }
    }

    // A fresh cluster per scenario; one more try when a node does not come up on this loaded machine.
    private static async Task<ParleyCluster> StartClusterAsync(Scenario scenario)
    {
        try
        {
            return await ParleyCluster.StartAsync(Options(scenario));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            RunContext.Log($"{scenario.Name}: the cluster did not start ({e.Message.Split('\n')[0]}); trying again");
            return await ParleyCluster.StartAsync(Options(scenario));
        }
    }

    private static ParleyClusterOptions Options(Scenario scenario) => new()
    {
        Nodes = 3,
        Settings = new Dictionary<string, string>
        {
            // A slow reader must overflow its queue within seconds at this machine's rates (default 4096 frames).
            ["OutboundQueueFrames"] = "256",

            // Server pings every 5 s, so a half-open client is dropped after ~10 s.
            ["HeartbeatMs"] = "5000",
        },
        ConfigureNode = scenario.ConfigureNode,
    };

    private static async Task<ScenarioResult> RunOnAsync(ParleyCluster cluster, Scenario scenario, CampaignOptions options, DateTime started)
    {
        await scenario.PrepareAsync(cluster);
        var squeezed = scenario.Name.Replace("-", "", StringComparison.Ordinal);
        var prefix = squeezed[..Math.Min(8, squeezed.Length)];
        RunContext.Log($"{scenario.Name}: creating {options.Users} users, {options.Rooms} rooms, {options.Users / 2} DMs");
        await using var workload = await Workload.CreateAsync(cluster, options.Users, options.Rooms, prefix, scenario.IdleUsers(options));
        await workload.ConnectAsync(i => scenario.ClientBase(cluster, i));
        RunContext.Log($"{scenario.Name}: {workload.Clients.Count} clients connected: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Id}={workload.Clients.Count(c => c.Sdk.NodeId == n.Id)}"))}");

        var driver = new Driver(workload, options.Rate, i => i < options.Users);
        var ctx = new RunContext(cluster, workload, driver, options);
        using var stop = new CancellationTokenSource();
        var driving = driver.RunAsync(stop.Token);
        await Task.Delay(options.Warmup);
        try
        {
            await scenario.InjectAsync(ctx);
        }
        finally
        {
            ctx.Workload.Timeline.FaultEnd ??= ctx.Now;
        }

        foreach (var node in cluster.Nodes.Where(n => !n.IsRunning))
        {
            await RunContext.StartNodeAsync(node);
        }

        await cluster.HealAsync();
        await Task.Delay(options.AfterHeal);
        await stop.CancelAsync();
        await driving;
        RunContext.Log($"{scenario.Name}: sending stopped at {ctx.Now:F1} s; waiting for acks and catch-up");
        await driver.DrainAsync(DrainTimeout);
        var caughtUp = await Checker.CaughtUpAsync(workload, cluster.Api, CatchUpTimeout);
        ctx.Expect(caughtUp, $"clients had not caught up with the store {CatchUpTimeout.TotalSeconds} s after sending stopped");
        workload.Timeline.End = ctx.Now;
        var (verdict, findings) = await Checker.CheckAsync(workload, cluster.Api);
        await scenario.AfterAsync(ctx);
        await PresenceAsync(ctx);
        await scenario.DisposeAsync();
        var seconds = (DateTime.UtcNow - started).TotalSeconds;
        RunContext.Log($"{scenario.Name}: {verdict} in {seconds:F0} s");
        return new ScenarioResult(scenario, verdict, ctx.Figures, ctx.Violations, findings, workload.Timeline.Seconds(), workload.Timeline.FaultStart, workload.Timeline.FaultEnd, seconds);
    }

    // After healing, the cluster's online count must converge on exactly the users holding a connection: no user of a
    // dead or frozen node left online, none of the live ones left offline.
    private static async Task PresenceAsync(RunContext ctx)
    {
        var expected = ctx.Workload.Clients.Count + ctx.ExtraOnline;
        var online = -1;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var stats = await ctx.Cluster.Api.CallAsync(HttpMethod.Get, "api/v1/stats");
            online = stats.Body.GetProperty("onlineUsers").GetInt32();
            if (online == expected)
            {
                break;
            }

            await Task.Delay(500);
        }

        ctx.Figure("online after heal", $"{online.ToString(CultureInfo.InvariantCulture)}/{expected.ToString(CultureInfo.InvariantCulture)}");
        ctx.Expect(online == expected, $"presence did not converge: {online} online, {expected} connected");
    }
}
