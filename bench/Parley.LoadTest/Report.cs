using System.Globalization;
using System.Text;

namespace Parley.LoadTest;

/// <summary>Turns a run's results into <c>docs/performance.md</c> and one SVG chart per scenario.</summary>
public static class Report
{
    private static readonly string[] Order = ["parley", "socketio", "signalr"];
    private static readonly Dictionary<string, string> Names = new() { ["parley"] = "Parley", ["socketio"] = "Socket.IO + Redis", ["signalr"] = "SignalR" };

    private static string N(double v, string format = "N0") => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    private static string Ratio(double a, double b) => double.IsFinite(a) && double.IsFinite(b) && b != 0 ? (a / b).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "n/a";

    private static string Kib(double bytes) => double.IsFinite(bytes) ? (bytes / 1024).ToString("0.00", CultureInfo.InvariantCulture) + " KiB" : "n/a";

    /// <summary>
    /// What bounds Parley's fan-out, direct and storm figures, computed from this run's own measurements, so the explanation
    /// stays true to the figures it explains.
    /// </summary>
    private static void WriteLimits(StringBuilder md, RunResult run, Func<string, string, string, double> fig, Func<string, string, ScenarioResult?> get)
    {
        var small = get("fanout-small", "parley");
        var large = get("fanout-large", "parley");
        var direct = get("direct-latency", "parley");
        var storm = get("storm", "parley");
        if (small is null && large is null && direct is null && storm is null)
        {
            return;
        }

        md.AppendLine("## What bounds Parley's figures (computed from this run)");
        md.AppendLine();
        var floor = FloorBefore(run, fig("fanout-small", "parley", "sendFloorMicroseconds"));

        if (small is not null && large is not null && floor > 0)
        {
            // Beyond the send, a delivery costs a part per delivery (a) and its share of a part per message (m):
            // rest = a + m / room size. Two room sizes give both parts.
            var (sizeS, sizeL) = (fig("fanout-small", "parley", "roomSize"), fig("fanout-large", "parley", "roomSize"));
            var restS = 1e6 / fig("fanout-small", "parley", "deliveriesPerServerCpuSecond") - floor;
            var restL = 1e6 / fig("fanout-large", "parley", "deliveriesPerServerCpuSecond") - floor;
            var perMessage = (restS - restL) / (1 / sizeS - 1 / sizeL);
            var perDelivery = restL - perMessage / sizeL;
            md.AppendLine($"- **Fan-out.** A delivery written with a `send()` of its own costs at least the machine's floor, {N(floor, "0.00")} µs of CPU per send (measured right before Parley's fan-out): at most {N(1e6 / floor)} deliveries per CPU-second for a server that did nothing else, against a target of 150,000. Beyond the send Parley paid {N(restS, "0.0")} µs per delivery in rooms of {N(sizeS)} and {N(restL, "0.0")} µs in rooms of {N(sizeL)}. Read as a part per delivery plus a part per message shared by the room, that is " +
                (perMessage > 0 && perDelivery > 0
                    ? $"{N(perDelivery, "0.0")} µs per delivery (the route's loop and each socket's write path) and {N(perMessage)} µs of the two nodes' CPU per message (receiving it, one PostgreSQL commit, the ack, the broker hop to the other node, and the thread and process wake-ups between them), {N(perMessage / sizeS, "0.0")} µs of each delivery in rooms of {N(sizeS)}."
                    : "not separable in this run (the two room sizes' figures are inside each other's noise)."));
        }

        if (direct is not null)
        {
            var sent = direct.Figure("offered");
            var server = direct.Figure("serverCpuSeconds") / sent * 1e6;
            var backends = direct.Figure("backendCpuSeconds") / sent * 1e6;
            var rate = direct.Figure("offeredPerSecond");
            var commit = direct.Figure("node.commit.p50Us") / 1000;
            md.AppendLine($"- **Direct.** At {N(rate)}/s each acked message cost the two nodes {N(server)} µs of CPU and PostgreSQL, RabbitMQ and Redis {N(backends)} µs: {N(run.Cores)} cores at that cost carry about {N(run.Cores * 1e6 / (server + backends))} messages/s with nothing left for the load generator (the cost per message falls somewhat as the rate rises and wake-ups are shared: the highest step sustained was {N(fig("direct-max", "parley", "maxSustainedPerSecond"))}/s). 20,000/s would need {N(run.Cores * 1e6 / 20_000)} µs per message for everything." +
                (double.IsFinite(commit)
                    ? $" The ack's median was {N(direct.AckLatency?.P50Ms ?? double.NaN, "0.00")} ms, of which PostgreSQL's commit (timed by the node) {N(commit, "0.00")} ms: a delivery p50 of 1 ms would leave less than nothing for the rest of the path."
                    : ""));
        }

        if (storm is not null && double.IsFinite(storm.Figure("generatorCpuSeconds")))
        {
            var nodes = storm.Figure("serverCpuSeconds");
            var backends = storm.Figure("backendCpuSeconds");
            var generator = storm.Figure("generatorCpuSeconds");
            var total = nodes + backends + generator;
            md.AppendLine($"- **Storm.** From the second before the first reconnect to the last client ready, the two nodes used {N(nodes, "0.0")} CPU-s, PostgreSQL, RabbitMQ and Redis {N(backends, "0.0")} and the load generator {N(generator, "0.0")}: {N(total, "0.0")} CPU-s, {N(total / run.Cores, "0.0")} s of all {N(run.Cores)} cores, for {N(storm.Figure("clients"))} clients arriving over {N(storm.Figure("windowMs"))} ms. The storm lasts as long as the machine takes to do that work (p99 {N(storm.Latency?.P99Ms ?? double.NaN, "0")} ms), so its p99 moves with the server's share of it and with what else the host runs; the generator's part is mostly the kernel's TCP, which on loopback also runs the server's half of each handshake.");
        }

        md.AppendLine();
    }

    /// <summary>The send floor measured right before a target's fan-out, or the run's one floor for runs made before that.</summary>
    private static double FloorBefore(RunResult run, double measuredBefore) =>
        measuredBefore > 0 ? measuredBefore : run.SendFloor?["cpuMicrosecondsPerSend"] ?? double.NaN;

    public static void Write(RunResult run, string markdownPath, string chartDir, string chartLink)
    {
        Directory.CreateDirectory(chartDir);
        var md = new StringBuilder();
        ScenarioResult? Get(string scenario, string target) => run.Results.FirstOrDefault(r => r.Scenario == scenario && r.Target == target && r.Ok);
        double Fig(string scenario, string target, string figure) => Get(scenario, target)?.Figure(figure) ?? double.NaN;
        double Lat(string scenario, string target, Func<LatencySummary, double> pick) => Get(scenario, target)?.Latency is { } l ? pick(l) : double.NaN;
        var targets = Order.Where(run.Targets.ContainsKey).ToList();

        md.AppendLine("# Performance");
        md.AppendLine();
        md.AppendLine("<!-- Generated by bench/Parley.LoadTest from one run (eng/bench.sh); do not edit by hand. -->");
        md.AppendLine();
        md.AppendLine("Parley, Socket.IO with its Redis adapter, and an ASP.NET Core SignalR hub, measured by the same load generator in the");
        md.AppendLine("same run on the same machine, with the same client counts and rates. **The peers store nothing and acknowledge");
        md.AppendLine("nothing**: a message they drop is gone. Parley commits every message to PostgreSQL (fsync on) before it");
        md.AppendLine("acknowledges it, keeps per-conversation order, and resumes every client from its cursor after a reconnect.");
        md.AppendLine();
        md.AppendLine("Reproduce: `eng/bench.sh` (about 15 minutes; `eng/bench.sh --smoke` is the few-second version the test suite runs).");
        md.AppendLine();
        md.AppendLine($"Run: {run.StartedUtc} UTC, commit `{run.Commit}`, mode `{run.Mode}`, {run.Cores} cores, {N(run.WallSeconds / 60, "0.0")} minutes. ");
        md.AppendLine($"Load average (1/5/15 min) before: {run.LoadAverageBefore}; after: {run.LoadAverageAfter}. The machine is shared: another engineer's build");
        md.AppendLine("running during a phase shows up as higher latency and CPU in that phase. The run goes scenario by scenario, the");
        md.AppendLine("targets in turn within each, so each comparison is between measurements minutes apart; every target's backends stay");
        md.AppendLine("up, idle, while the others are measured.");
        md.AppendLine();
        md.AppendLine("| target | what runs |");
        md.AppendLine("|---|---|");
        foreach (var t in targets)
        {
            md.AppendLine($"| {Names[t]} | {run.Targets[t]} |");
        }

        md.AppendLine();
        md.AppendLine("## Summary against the targets");
        md.AppendLine();
        md.AppendLine("| measure | Parley | Socket.IO + Redis | SignalR | Parley ÷ Socket.IO | Parley ÷ SignalR | target | met |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");

        void Row(string measure, Func<string, double> value, Func<double, string> fmt, string goal, Func<double, double, double, bool?> met)
        {
            var p = value("parley");
            var s = value("socketio");
            var g = value("signalr");
            var ok = met(p, s, g);
            md.AppendLine($"| {measure} | {fmt(p)} | {fmt(s)} | {fmt(g)} | {Ratio(p, s)} | {Ratio(p, g)} | {goal} | {(ok is null ? "n/a" : ok.Value ? "yes" : "**no**")} |");
        }

        static bool? Both(params double[] v) => v.All(double.IsFinite) ? true : null;

        Row("idle: managed heap per connection", t => Fig("idle", t, "heapBytesPerConnection"), Kib, "≤ 4 KiB, ≤ 0.5× Socket.IO, ≤ 0.33× SignalR",
            (p, s, g) => Both(p, s, g) is null ? null : p <= 4096 && p <= 0.5 * s && p <= 0.33 * g);
        Row("idle: RSS per connection", t => Fig("idle", t, "rssBytesPerConnection"), Kib, "≤ 4 KiB, ≤ 0.5× Socket.IO, ≤ 0.33× SignalR",
            (p, s, g) => Both(p, s, g) is null ? null : p <= 4096 && p <= 0.5 * s && p <= 0.33 * g);
        foreach (var (name, label) in new[] { ("fanout-small", "fan-out, rooms of " + N(Fig("fanout-small", "parley", "roomSize"))), ("fanout-large", "fan-out, rooms of " + N(Fig("fanout-large", "parley", "roomSize"))) })
        {
            Row($"{label}: deliveries per server CPU-second", t => Fig(name, t, "deliveriesPerServerCpuSecond"), v => N(v), "≥ 150,000, ≥ 5× Socket.IO, ≥ 1.5× SignalR",
                (p, s, g) => Both(p, s, g) is null ? null : p >= 150_000 && p >= 5 * s && p >= 1.5 * g);
            Row($"{label}: delivery p99", t => Lat(name, t, l => l.P99Ms), v => N(v, "0.00") + " ms", "", (_, _, _) => null);
        }

        Row("direct: max sustained rate (Parley: acked, durable; peers: delivered)", t => Fig("direct-max", t, "maxSustainedPerSecond"), v => N(v) + "/s", "≥ 20,000/s acked",
            (p, _, _) => double.IsFinite(p) ? p >= 20_000 : null);
        var half = Fig("direct-latency", "parley", "offeredPerSecond");
        Row($"direct at {N(half)}/s: delivery p50", t => Lat("direct-latency", t, l => l.P50Ms), v => N(v, "0.00") + " ms", "≤ 1 ms", (p, _, _) => double.IsFinite(p) ? p <= 1 : null);
        Row($"direct at {N(half)}/s: delivery p99", t => Lat("direct-latency", t, l => l.P99Ms), v => N(v, "0.00") + " ms", "≤ 5 ms, ≤ 0.5× each peer",
            (p, s, g) => Both(p, s, g) is null ? null : p <= 5 && p <= 0.5 * s && p <= 0.5 * g);
        Row($"direct at {N(half)}/s: delivery p99.9", t => Lat("direct-latency", t, l => l.P999Ms), v => N(v, "0.00") + " ms", "≤ 20 ms", (p, _, _) => double.IsFinite(p) ? p <= 20 : null);
        var ack = Get("direct-latency", "parley")?.AckLatency;
        if (ack is not null)
        {
            md.AppendLine($"| direct at {N(half)}/s: Parley ack (commit) p50 / p99 / p99.9 | {N(ack.P50Ms, "0.00")} / {N(ack.P99Ms, "0.00")} / {N(ack.P999Ms, "0.00")} ms | no acks | no acks | | | | |");
        }

        Row("reconnect storm: clients back", t => Fig("storm", t, "reconnected"), v => N(v), "all", (p, _, _) => double.IsFinite(p) ? p >= Fig("storm", "parley", "clients") : null);
        Row("reconnect storm: Parley clients resumed with both messages (from before, and missed)", t => Fig("storm", t, "resumed"), v => N(v), "all", (p, _, _) => double.IsFinite(p) ? p >= Fig("storm", "parley", "clients") : null);
        Row("reconnect storm: p99 reconnect to ready", t => Lat("storm", t, l => l.P99Ms), v => N(v, "0") + " ms", "≤ 2,000 ms", (p, _, _) => double.IsFinite(p) ? p <= 2000 : null);
        md.AppendLine();
        md.AppendLine("Server CPU is the CPU time of the chat server processes only (Parley's two nodes, the two Node.js processes, the SignalR");
        md.AppendLine("process), read from `/proc/<pid>/stat` over the measured window; PostgreSQL, RabbitMQ and Redis are reported apart below.");
        md.AppendLine("Latency is counted from each message's scheduled send time (open loop: a constant offered rate, whatever the server does),");
        md.AppendLine("so a stall shows up in the percentiles instead of slowing the load down.");
        md.AppendLine();
        WriteLimits(md, run, Fig, Get);

        // ---- idle ----
        md.AppendLine("## Idle connections");
        md.AppendLine();
        md.AppendLine($"{N(run.Sizes.IdleConnections)} authenticated connections on one server process (Parley: `hello` answered and `synced`; Socket.IO: namespace connected; SignalR: handshake done), held {N(run.Sizes.IdleHoldMs / 1000.0)} s with each server's own heartbeat. Memory is read before connecting and after the hold, each time after a forced full collection (`/debug/memory`: .NET `GC.GetTotalMemory` after a compacting collection, the last one in the runtime's aggressive mode, which also returns the collector's free committed memory to the OS; Node.js `heapUsed + external` after `gc()`), and RSS from `/proc`. Per connection = difference ÷ connections.");
        md.AppendLine();
        md.AppendLine("| | connected | heap per connection | RSS per connection | idle CPU (ms/s per 1,000 connections) | connect p99 |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var t in targets)
        {
            md.AppendLine($"| {Names[t]} | {N(Fig("idle", t, "connections"))} | {Kib(Fig("idle", t, "heapBytesPerConnection"))} | {Kib(Fig("idle", t, "rssBytesPerConnection"))} | {N(Fig("idle", t, "idleCpuMsPerSecondPer1000"), "0.00")} | {N(Lat("idle", t, l => l.P99Ms), "0")} ms |");
        }

        md.AppendLine();
        File.WriteAllText(Path.Combine(chartDir, "idle.svg"), Svg.Bars("Idle: server memory per connection (lower is better)", "KiB per connection",
            targets.SelectMany(t => new[] { ($"{Names[t]} heap", Fig("idle", t, "heapBytesPerConnection") / 1024), ($"{Names[t]} RSS", Fig("idle", t, "rssBytesPerConnection") / 1024) }).ToList(), v => N(v, "0.00") + " KiB"));
        md.AppendLine($"![idle memory]({chartLink}/idle.svg)");
        md.AppendLine();

        // ---- fan-out ----
        md.AppendLine("## Fan-out");
        md.AppendLine();
        md.AppendLine($"Rooms whose members all connect (Parley and Socket.IO: members spread over both processes); 100-byte message bodies; a constant offered rate of {N(run.Sizes.FanoutDeliveriesPerSecond)} deliveries/s (messages/s × room size), each message from a member in turn. Every member receives every message, the sender included. Measured for {N(run.Sizes.FanoutDurationMs / 1000.0)} s after {N(run.Sizes.FanoutWarmupMs / 1000.0)} s of warm-up.");
        md.AppendLine();
        md.AppendLine("| | room size × rooms | msg/s | delivered | deliveries per server CPU-s | per CPU-s incl. backends | p50 | p99 | p99.9 | max |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var name in new[] { "fanout-small", "fanout-large" })
        {
            foreach (var t in targets)
            {
                var r = Get(name, t);
                var l = r?.Latency;
                md.AppendLine($"| {Names[t]} | {N(Fig(name, t, "roomSize"))} × {N(Fig(name, t, "rooms"))} | {N(Fig(name, t, "messagesPerSecond"))} | {N(Fig(name, t, "deliveredFraction") * 100, "0.0")} % | {N(Fig(name, t, "deliveriesPerServerCpuSecond"))} | {N(Fig(name, t, "deliveriesPerTotalCpuSecond"))} | {N(l?.P50Ms ?? double.NaN, "0.00")} ms | {N(l?.P99Ms ?? double.NaN, "0.00")} ms | {N(l?.P999Ms ?? double.NaN, "0.00")} ms | {N(l?.MaxMs ?? double.NaN, "0.0")} ms |");
            }
        }

        md.AppendLine();
        if (run.SendFloor is { } floor)
        {
            // What one send() costs on this machine bounds every target that writes each delivery with its own send.
            var perSend = floor["cpuMicrosecondsPerSend"];
            md.AppendLine($"**The machine's floor, same run.** One thread of a bare .NET program, no server around it, wrote a 102-byte frame (a 100-byte text message with its WebSocket header) to {N(floor["sockets"])} loopback sockets in turn at {N(floor["offeredPerSecond"])} sends/s, one `send()` each: {N(perSend, "0.00")} µs of its CPU per send, so at most **{N(floor["sendsPerCpuSecond"])} sends per CPU-second**. On loopback a sender's `send()` also runs the receiving side's TCP processing and wakes the reader, as a server's does for a local client; at this rate every target writes each delivery with a send of its own (there is nothing queued to coalesce), so no target can exceed that figure here. The same measurement was repeated right before each target's fan-out (the machine is shared and its speed drifts); per delivery, against the floor measured just before that target:");
            md.AppendLine();
            md.AppendLine("| | rooms of | server CPU per delivery | of which the bare send | the rest |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var name in new[] { "fanout-small", "fanout-large" })
            {
                foreach (var t in targets)
                {
                    var per = 1e6 / Fig(name, t, "deliveriesPerServerCpuSecond");
                    if (!double.IsFinite(per))
                    {
                        continue;
                    }

                    var send = FloorBefore(run, Fig(name, t, "sendFloorMicroseconds"));
                    md.AppendLine($"| {Names[t]} | {N(Fig(name, t, "roomSize"))} | {N(per, "0.0")} µs | {N(send, "0.00")} µs | {N(per - send, "0.0")} µs |");
                }
            }

            md.AppendLine();
        }

        File.WriteAllText(Path.Combine(chartDir, "fanout.svg"), Svg.Bars("Fan-out: deliveries per server CPU-second (higher is better)", "deliveries per CPU-second",
            new[] { "fanout-small", "fanout-large" }.SelectMany(n => targets.Select(t => ($"{Names[t]}, rooms of {N(Fig(n, t, "roomSize"))}", Fig(n, t, "deliveriesPerServerCpuSecond")))).ToList(), v => N(v)));
        File.WriteAllText(Path.Combine(chartDir, "fanout-latency.svg"), Svg.LatencyCurves("Fan-out: delivery latency by percentile",
            new[] { "fanout-small", "fanout-large" }.SelectMany(n => targets.Where(t => Get(n, t)?.LatencyCurve is not null).Select(t => ($"{Names[t]} ({N(Fig(n, t, "roomSize"))})", Get(n, t)!.LatencyCurve!))).ToList()));
        md.AppendLine($"![fan-out efficiency]({chartLink}/fanout.svg)");
        md.AppendLine();
        md.AppendLine($"![fan-out latency]({chartLink}/fanout-latency.svg)");
        md.AppendLine();

        // ---- direct ----
        md.AppendLine("## Direct messages across two nodes");
        md.AppendLine();
        md.AppendLine($"{N(run.Sizes.DirectPairs)} pairs of users, one of each pair on each node, so every message crosses between the nodes (Parley: through RabbitMQ after the PostgreSQL commit; Socket.IO: through the Redis adapter; SignalR has one process). After {N(run.Sizes.DirectWarmupMs / 1000.0)} s of warm-up at the first step's rate, the offered rate rises step by step ({N(run.Sizes.DirectStepMs / 1000.0)} s each) until a step is not sustained (fewer than 99 % acknowledged — Parley — or delivered — peers — or p99 above 500 ms); then, once the target's server is quiet again (under 0.1 of a core: the step that failed leaves a backlog, up to 60 s), every target runs at half of Parley's maximum for {N(run.Sizes.DirectLatencyMs / 1000.0)} s. Latency is sender's scheduled send → the recipient's receipt on the other node.");
        md.AppendLine();
        md.AppendLine("| | max sustained | steps (offered → achieved, p99) |");
        md.AppendLine("|---|---|---|");
        foreach (var t in targets)
        {
            var r = Get("direct-max", t);
            var steps = r?.Steps is null ? "" : string.Join("; ", r.Steps.Select(s => $"{N(s.Offered)} → {N(s.Achieved)} ({N(s.P99Ms, "0.0")} ms){(s.Sustained ? "" : " ✗")}"));
            md.AppendLine($"| {Names[t]} | {N(Fig("direct-max", t, "maxSustainedPerSecond"))}/s | {steps} |");
        }

        md.AppendLine();
        md.AppendLine($"| at {N(half)}/s | delivered | p50 | p99 | p99.9 | max | server CPU (cores) | backends CPU (cores) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var t in targets)
        {
            var r = Get("direct-latency", t);
            var l = r?.Latency;
            var secs = run.Sizes.DirectLatencyMs / 1000.0;
            md.AppendLine($"| {Names[t]} | {N(Fig("direct-latency", t, "delivered"))} of {N(Fig("direct-latency", t, "offered"))} | {N(l?.P50Ms ?? double.NaN, "0.00")} ms | {N(l?.P99Ms ?? double.NaN, "0.00")} ms | {N(l?.P999Ms ?? double.NaN, "0.00")} ms | {N(l?.MaxMs ?? double.NaN, "0.0")} ms | {N(Fig("direct-latency", t, "serverCpuSeconds") / secs, "0.00")} | {N(Fig("direct-latency", t, "backendCpuSeconds") / secs, "0.00")} |");
        }

        if (ack is not null)
        {
            md.AppendLine($"| Parley ack (commit) | {N(Fig("direct-latency", "parley", "acked"))} acked | {N(ack.P50Ms, "0.00")} ms | {N(ack.P99Ms, "0.00")} ms | {N(ack.P999Ms, "0.00")} ms | {N(ack.MaxMs, "0.0")} ms | | |");
        }

        md.AppendLine();
        if (Fig("direct-latency", "parley", "node.send.count") > 0 && ack is not null)
        {
            double Ms(string name) => Fig("direct-latency", "parley", $"node.{name}") / 1000.0;
            md.AppendLine($"**Where Parley's acknowledgement time goes** (the nodes' own timing over the same window, `/debug/latency`, both nodes weighted by their sends): " +
                $"of the {N(ack.P50Ms, "0.00")} ms median the client measures from each message's due time to its ack, the node spent {N(Ms("send.p50Us"), "0.00")} ms (p99 {N(Ms("send.p99Us"), "0.00")}) from the parsed `send` to the commit's answer; " +
                $"of that, waiting for a commit slot {N(Ms("commitWait.p50Us"), "0.00")} ms (p99 {N(Ms("commitWait.p99Us"), "0.00")}) and the PostgreSQL commit itself {N(Ms("commit.p50Us"), "0.00")} ms (p99 {N(Ms("commit.p99Us"), "0.00")}) per batch, " +
                $"{N(Fig("direct-latency", "parley", "node.batchSize.meanUs"), "0.0")} messages per batch on average ({N(Fig("direct-latency", "parley", "node.commit.count"))} commits). " +
                "The rest of the median is outside the node's timing: the load generator's own scheduling, the kernel and the WebSocket read and write on both sides.");
            md.AppendLine();
        }

        File.WriteAllText(Path.Combine(chartDir, "direct.svg"), Svg.Bars("Direct: maximum sustained rate (higher is better)", "messages per second (Parley: acknowledged after commit)",
            targets.Select(t => (Names[t], Fig("direct-max", t, "maxSustainedPerSecond"))).ToList(), v => N(v) + "/s"));
        var curves = targets.Where(t => Get("direct-latency", t)?.LatencyCurve is not null).Select(t => ($"{Names[t]} delivery", Get("direct-latency", t)!.LatencyCurve!)).ToList();
        if (Get("direct-latency", "parley")?.AckCurve is { } ackCurve)
        {
            curves.Add(("Parley ack", ackCurve));
        }

        File.WriteAllText(Path.Combine(chartDir, "direct-latency.svg"), Svg.LatencyCurves($"Direct at {N(half)}/s: latency by percentile", curves));
        md.AppendLine($"![direct rate]({chartLink}/direct.svg)");
        md.AppendLine();
        md.AppendLine($"![direct latency]({chartLink}/direct-latency.svg)");
        md.AppendLine();

        // ---- storm ----
        md.AppendLine("## Reconnect storm");
        md.AppendLine();
        md.AppendLine($"{N(run.Sizes.StormClients)} clients in rooms of {N(run.Sizes.StormRoomSize)} connect (Parley: each room already holds one message, sent before anyone connected); a tenth of them drop and come straight back at the storm's rate (a warm-up, so the storm runs on code that has run before, as on a server that has been up a while: Parley's resume from the start of the room and get that message back from the store, as the storm's will); then all drop their TCP connections at once. While they are away one message per room is stored (Parley). Then every client reconnects, the reconnects spread evenly over {N(run.Sizes.StormWindowMs)} ms (the clients' reconnect jitter); latency runs from each client's scheduled reconnect to ready (Parley: `hello` resuming from the start of the room → both messages → `synced`; Socket.IO: namespace connected with its rooms; SignalR: handshake and room joins done). The peers have nothing to resume, and no presence; Parley keeps a dropped user online for its presence grace (`Parley:PresenceOfflineGraceMs`, 15 s), so clients back within it cause no presence news. Every listening socket has an accept queue of 4,096 connections (Parley's default, `Parley:ListenBacklog`; the peers are given the same instead of their frameworks' 511 and 512, with which the kernel drops a storm's SYNs and those clients retry seconds later). A Parley node listens on one socket per core, sharing its port through `SO_REUSEPORT` (`Parley:ListenSockets`), so it has {N(run.Cores)} such queues here; the peers listen on one socket per process, as their frameworks do. \"SYNs dropped\" counts the connections the kernel still refused because a queue was full (`ListenOverflows`); \"generator CPU-s\" is the load generator's own, taken from the same two cores.");
        md.AppendLine();
        md.AppendLine("| | back | resumed with both messages | failed | p50 | p99 | max | server CPU-s | backends CPU-s | generator CPU-s | SYNs dropped |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var t in targets)
        {
            var l = Get("storm", t)?.Latency;
            md.AppendLine($"| {Names[t]} | {N(Fig("storm", t, "reconnected"))} | {N(Fig("storm", t, "resumed"))} | {N(Fig("storm", t, "failed"))} | {N(l?.P50Ms ?? double.NaN, "0")} ms | {N(l?.P99Ms ?? double.NaN, "0")} ms | {N(l?.MaxMs ?? double.NaN, "0")} ms | {N(Fig("storm", t, "serverCpuSeconds"), "0.0")} | {N(Fig("storm", t, "backendCpuSeconds"), "0.0")} | {N(Fig("storm", t, "generatorCpuSeconds"), "0.0")} | {N(Fig("storm", t, "listenOverflows"))} |");
        }

        md.AppendLine();
        File.WriteAllText(Path.Combine(chartDir, "storm.svg"), Svg.LatencyCurves("Reconnect storm: reconnect-to-ready latency by percentile",
            targets.Where(t => Get("storm", t)?.LatencyCurve is not null).Select(t => (Names[t], Get("storm", t)!.LatencyCurve!)).ToList()));
        md.AppendLine($"![reconnect storm]({chartLink}/storm.svg)");
        md.AppendLine();

        // ---- the machine ----
        md.AppendLine("## The machine during each scenario");
        md.AppendLine();
        md.AppendLine("CPU time the hypervisor gave other tenants of the host (steal, from `/proc/stat`) while each scenario ran, as a share of the machine's CPU time. A target measured while it was high had less of the two cores than the others.");
        md.AppendLine();
        md.AppendLine("| scenario | " + string.Join(" | ", targets.Select(t => Names[t])) + " |");
        md.AppendLine("|---|" + string.Concat(targets.Select(_ => "---|")));
        foreach (var scenario in new[] { "idle", "fanout-small", "direct-max", "storm" })
        {
            var label = scenario switch { "fanout-small" => "fanout", "direct-max" => "direct", _ => scenario };
            md.AppendLine($"| {label} | " + string.Join(" | ", targets.Select(t => N(Fig(scenario, t, "stealPercent"), "0.0") + " %")) + " |");
        }

        md.AppendLine();

        var failures = run.Results.Where(r => !r.Ok || r.Notes.Count > 0).ToList();
        if (failures.Count > 0)
        {
            md.AppendLine("## Notes from the run");
            md.AppendLine();
            foreach (var r in failures)
            {
                foreach (var note in r.Notes)
                {
                    md.AppendLine($"- {Names.GetValueOrDefault(r.Target, r.Target)} {r.Scenario}: {note.ReplaceLineEndings(" ")}");
                }
            }

            md.AppendLine();
        }

        File.WriteAllText(markdownPath, md.ToString());
    }
}
