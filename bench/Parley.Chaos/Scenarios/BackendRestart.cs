using Parley.Testing.Cluster;

namespace Parley.Chaos.Scenarios;

/// <summary>
/// A shared backend goes away for the whole cluster and comes back. PostgreSQL and Redis are killed; RabbitMQ is
/// stopped politely (<c>rabbitmq-restart</c>) or killed (<c>rabbitmq-crash</c>: its sockets end without a close, and
/// publishes it had not routed yet are lost).
/// </summary>
public sealed class BackendRestart(string backend, bool crash = false) : Scenario
{
    private static readonly TimeSpan Down = TimeSpan.FromSeconds(15);

    public override string Name => backend + (crash ? "-crash" : "-restart");

    public override string Fault => backend switch
    {
        "postgres" => "PostgreSQL killed (SIGKILL), restarted 15 s later",
        "rabbitmq" when crash => "RabbitMQ killed (SIGKILL), started again 15 s later (its boot takes ~20 s more)",
        "rabbitmq" => "RabbitMQ stopped, started again 15 s later (its boot takes ~20 s more)",
        _ => "Redis killed (SIGKILL), restarted 15 s later empty (no persistence)",
    };

    public override string Expectation => backend switch
    {
        "postgres" => "sends answer `unavailable` within 5 s and nothing is acked while it is down",
        "rabbitmq" => "sends keep being acked; cross-node delivery heals from the store",
        _ => "messaging unaffected; presence re-asserted exactly",
    };

    public override async Task InjectAsync(RunContext ctx)
    {
        var cluster = ctx.Cluster;
        ctx.FaultStarted();
        var from = ctx.Now;
        switch (backend)
        {
            case "postgres":
                cluster.Postgres.Kill();
                await Task.Delay(Down);
                var downTo = ctx.Now;
                await cluster.Postgres.RestartAsync();
                StoreOutage.Check(ctx, from, downTo, wholeStore: true);
                break;
            case "rabbitmq" when crash:
                await cluster.RabbitMq.KillAsync();
                await Task.Delay(Down);
                await cluster.RabbitMq.StartAgainAsync();
                break;
            case "rabbitmq":
                await cluster.RabbitMq.StopAsync();
                await Task.Delay(Down);
                await cluster.RabbitMq.StartAgainAsync();
                break;
            default:
                cluster.Redis.Kill();
                await Task.Delay(Down);
                await cluster.Redis.RestartAsync();
                break;
        }

        ctx.FaultEnded();
        var acked = ctx.Workload.Ledger.Sends.Count(s => s.AckAt >= from && s.AckAt < ctx.Now);
        ctx.Figure("acks during the fault window", $"{acked}");
        var latencies = ctx.Workload.Latencies;
        ctx.Figure("delivery p99 in the fault window", latencies.P99(from, ctx.Now), "ms");
        // The same deliveries split: sends refused (`unavailable`) and resent by the SDK count the outage by
        // construction; sends never refused that still waited were held by the server.
        ctx.Figure("never-refused sends delivered in the window", $"{latencies.Count(from, ctx.Now, resent: false)}");
        ctx.Figure("never-refused delivery p99", latencies.P99(from, ctx.Now, resent: false), "ms");
        ctx.Figure("resent sends delivered in the window", $"{latencies.Count(from, ctx.Now, resent: true)}");
        ctx.Figure("resent delivery p99", latencies.P99(from, ctx.Now, resent: true), "ms");
    }
}

/// <summary>The store-outage expectations: prompt <c>unavailable</c>, and no ack while the store is down.</summary>
public static class StoreOutage
{
    public static void Check(RunContext ctx, double from, double to, bool wholeStore)
    {
        // Sends made by connected clients while the store was down, early enough to be answered before it returned.
        var window = ctx.Workload.Ledger.Sends.Where(s => s.SenderConnected && s.SentAt >= from + 0.5 && s.SentAt < to - 5).ToList();
        var refused = window.Where(s => s.FirstRefusalCode == "unavailable").ToList();
        var latency = refused.Select(s => s.FirstRefusalAt!.Value - s.SentAt).ToList();
        var p99 = Percentile.Of(latency, 0.99);
        var unanswered = window.Count(s => (s.FirstRefusalAt ?? double.MaxValue) - s.SentAt > 5 && (s.AckAt ?? double.MaxValue) - s.SentAt > 5);
        ctx.Figure("sends refused `unavailable`", $"{refused.Count}");
        ctx.Figure("unavailable answer p99", p99);
        ctx.Figure("unanswered after 5 s", $"{unanswered}");
        ctx.Expect(refused.Count > 0, "no send was refused unavailable during the store outage");
        ctx.ExpectTimely(p99 <= 5, $"unavailable answered with p99 {p99:F2} s > 5 s");
        if (wholeStore)
        {
            ctx.ExpectTimely(unanswered == 0, $"{unanswered} sends were neither refused nor acked within 5 s");
            var ackedDuringOutage = ctx.Workload.Ledger.Sends.Count(s => s.AckAt > from + 1 && s.AckAt < to);
            ctx.Figure("acked while the store was down", $"{ackedDuringOutage}");
            ctx.Expect(ackedDuringOutage == 0, $"{ackedDuringOutage} sends were acked while PostgreSQL was down");
        }
    }
}

/// <summary>One node loses one backend for 30 s (a silent partition through a <see cref="Parley.Testing.TcpFaultProxy"/>).</summary>
public sealed class BackendCutOff(string backend) : Scenario
{
    private Parley.Testing.TcpFaultProxy? _proxy;

    public override string Name => "cutoff-" + backend;

    public override string Fault => $"node 1 cut off from {backend switch { "postgres" => "PostgreSQL", "rabbitmq" => "RabbitMQ", _ => "Redis" }} for 30 s (a TCP proxy that silently drops traffic, no FIN or RST)";

    public override string Expectation => backend switch
    {
        "postgres" => "that node's sends answer `unavailable` within 5 s",
        "rabbitmq" => "its cross-node delivery heals from the store",
        _ => "messaging unaffected; presence re-asserted",
    };

    public override NodeOverrides? ConfigureNode(ParleyCluster cluster, int node)
    {
        if (node != 1)
        {
            return null;
        }

        var env = new Dictionary<string, string>();
        switch (backend)
        {
            case "postgres":
                _proxy = new Parley.Testing.TcpFaultProxy(cluster.Postgres.Port);
                var cs = new Npgsql.NpgsqlConnectionStringBuilder(cluster.Database) { Port = _proxy.Port };
                return new NodeOverrides(new Dictionary<string, string> { ["Postgres"] = cs.ConnectionString }, env);
            case "rabbitmq":
                _proxy = new Parley.Testing.TcpFaultProxy(cluster.RabbitMq.Port);
                return new NodeOverrides(new Dictionary<string, string> { ["RabbitMq"] = $"amqp://guest:guest@127.0.0.1:{_proxy.Port}/" }, env);
            default:
                _proxy = new Parley.Testing.TcpFaultProxy(cluster.Redis.Port);
                return new NodeOverrides(new Dictionary<string, string> { ["Redis"] = $"127.0.0.1:{_proxy.Port}" }, env);
        }
    }

    public override async Task InjectAsync(RunContext ctx)
    {
        var proxy = _proxy ?? throw new InvalidOperationException("no proxy");
        ctx.FaultStarted();
        var from = ctx.Now;
        proxy.SetMode(Parley.Testing.ProxyMode.Blackhole);
        await Task.Delay(TimeSpan.FromSeconds(30));
        var to = ctx.Now;
        proxy.SetMode(Parley.Testing.ProxyMode.Pass);
        ctx.FaultEnded();
        if (backend == "postgres")
        {
            StoreOutage.Check(ctx, from, to, wholeStore: false);
        }

        ctx.Figure("delivery p99 in the fault window", ctx.Workload.Latencies.P99(from, to), "ms");
    }

    public override async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        await base.DisposeAsync();
    }
}
