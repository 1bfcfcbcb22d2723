using Parley.Testing;
using Parley.Testing.Cluster;

namespace Parley.Chaos.Scenarios;

/// <summary>Client-side faults: some (or all) clients reach nginx through a TCP fault proxy.</summary>
public abstract class ClientProxyScenario : Scenario
{
    protected TcpFaultProxy? Proxy { get; private set; }

    /// <summary>Whether client <paramref name="user"/> goes through the proxy.</summary>
    protected abstract bool Proxied(int user);

    public override Task PrepareAsync(ParleyCluster cluster)
    {
        Proxy = new TcpFaultProxy(cluster.Nginx.Port);
        return Task.CompletedTask;
    }

    public override Uri ClientBase(ParleyCluster cluster, int user) =>
        Proxied(user) && Proxy is not null ? new Uri($"http://127.0.0.1:{Proxy.Port}/") : cluster.BaseUri;

    public override async ValueTask DisposeAsync()
    {
        if (Proxy is not null)
        {
            await Proxy.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}

/// <summary>A tenth of the clients lose their network silently for 30 s (no FIN, no RST), then it comes back.</summary>
public sealed class HalfOpen : ClientProxyScenario
{
    public override string Name => "half-open";

    public override string Fault => "a tenth of the clients' connections go silent for 30 s (traffic dropped, no FIN or RST), then flow again";

    public override string Expectation => "the SDK's ping deadline notices the dead connection; everything sent meanwhile arrives after the heal";

    protected override bool Proxied(int user) => user % 10 == 3;

    public override async Task InjectAsync(RunContext ctx)
    {
        var proxy = Proxy ?? throw new InvalidOperationException("no proxy");
        var victims = ctx.Workload.Clients.Where(c => Proxied(c.Index)).ToList();
        ctx.FaultStarted();
        var from = ctx.Now;
        proxy.SetMode(ProxyMode.Blackhole);
        await Task.Delay(TimeSpan.FromSeconds(30));
        var noticed = victims.Select(c => c.DroppedAfter(from) is { } d ? d - from : (double?)null).Where(d => d is not null).Select(d => d!.Value).ToList();
        proxy.SetMode(ProxyMode.Pass);
        ctx.FaultEnded();
        ctx.Figure("silenced clients", $"{victims.Count}");
        ctx.Figure("noticed within 30 s", $"{noticed.Count}");
        ctx.Figure("noticed after (max)", noticed.Count == 0 ? null : noticed.Max());
        ctx.Expect(noticed.Count == victims.Count, $"{victims.Count - noticed.Count} silenced clients never noticed their dead connection");
    }
}

/// <summary>Every client's connection is reset at once, so all of them reconnect together.</summary>
public sealed class ReconnectStorm : ClientProxyScenario
{
    public override string Name => "reconnect-storm";

    public override string Fault => "every client's connection reset at the same instant (about 1,000 clients: the workload plus idle DM users)";

    public override string Expectation => "every client resumes; the time to resync is reported";

    public override int IdleUsers(CampaignOptions options) => Math.Max(0, options.StormClients - options.Users);

    protected override bool Proxied(int user) => true;

    public override async Task InjectAsync(RunContext ctx)
    {
        var proxy = Proxy ?? throw new InvalidOperationException("no proxy");
        ctx.FaultStarted();
        var from = ctx.Now;
        proxy.SetMode(ProxyMode.Reset);
        await Task.Delay(TimeSpan.FromMilliseconds(100));
        proxy.SetMode(ProxyMode.Pass);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && ctx.Workload.Clients.Any(c => c.SyncedAfter(from) is null))
        {
            await Task.Delay(250);
        }

        ctx.FaultEnded();
        var times = ctx.Workload.Clients.Select(c => c.SyncedAfter(from) is { } s ? s - from : (double?)null).Where(t => t is not null).Select(t => t!.Value).ToList();
        ctx.Figure("clients reset", $"{ctx.Workload.Clients.Count}");
        ctx.Figure("resynced within 60 s", $"{times.Count}");
        ctx.Figure("resync p50", Percentile.Of(times, 0.5));
        ctx.Figure("resync p99", Percentile.Of(times, 0.99));
        ctx.Figure("resync max", times.Count == 0 ? null : times.Max());
        ctx.Expect(times.Count == ctx.Workload.Clients.Count, $"{ctx.Workload.Clients.Count - times.Count} clients had not resynced 60 s after the reset");
    }
}
