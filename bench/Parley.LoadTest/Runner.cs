using System.Diagnostics;
using Parley.LoadTest.Wire;

namespace Parley.LoadTest;

/// <summary>
/// Runs every scenario against every target and records the results: scenario by scenario, each target in turn, so
/// that a target's figures are measured within minutes of its peers' in the same scenario.
/// </summary>
public sealed class Runner(Sizes sizes, Fleet fleet, RunResult result)
{
    /// <summary>A server under this much CPU (cores) is taken as quiet: done with any backlog of the previous load.</summary>
    private const double QuietCores = 0.1;

    private static readonly TimeSpan MaxSettle = TimeSpan.FromSeconds(60);

    private readonly List<string> _localAddresses = Enumerable.Range(2, sizes.LocalAddresses).Select(i => $"127.0.0.{i}").ToList();
    private readonly Dictionary<string, Dictionary<string, double>> _floorBefore = [];
    private double _parleyHalfRate;

    public static readonly string[] AllScenarios = ["idle", "fanout", "direct", "storm"];

    /// <remarks>
    /// The machine is shared and its speed drifts: the send floor has measured 5.4 and 10.6 µs within the same hour.
    /// Running one target's every scenario before the next target's put peers eight minutes apart in each comparison;
    /// scenario-major order puts them one to three minutes apart, and the send floor is measured again right before
    /// each target's fan-out, so the report can show what the machine gave each one. Every target's backends stay up
    /// for the whole run (Parley's idle PostgreSQL and RabbitMQ sampled under 0.01 of a core while the peers ran); only
    /// the target being measured has chat servers running.
    /// </remarks>
    public async Task RunAsync(IReadOnlyList<Target> targets, IReadOnlyCollection<string> scenarios)
    {
        var started = new List<Target>();
        try
        {
            foreach (var target in targets)
            {
                result.Targets[target.Name] = target.Description;
                Log($"== {target.Name}: starting backends");
                started.Add(target);
                await target.StartBackendsAsync();
            }

            foreach (var scenario in AllScenarios.Where(scenarios.Contains))
            {
                foreach (var target in targets)
                {
                    if (scenario == "fanout")
                    {
                        var floor = await SendFloor.MeasureAsync(sizes.FanoutSmallSize, sizes.FanoutDeliveriesPerSecond, sizes.SendFloorMs);
                        _floorBefore[target.Name] = floor;
                        Log($"   send floor before {target.Name}'s fan-out: {floor["cpuMicrosecondsPerSend"]:F2} µs of CPU per send");
                    }

                    await RunScenarioAsync(target, scenario);
                }
            }
        }
        finally
        {
            foreach (var target in started)
            {
                await target.DisposeAsync();
            }
        }
    }

    private async Task RunScenarioAsync(Target target, string scenario)
    {
        Log($"== {target.Name} {scenario}");
        await target.StartNodesAsync(scenario);
        var ticks = ProcStats.MachineTicks();
        var firstResult = result.Results.Count;
        try
        {
            switch (scenario)
            {
                case "idle":
                    await IdleAsync(target);
                    break;
                case "fanout":
                    await FanoutAsync(target, "fanout-small", 0, sizes.FanoutSmallRooms, sizes.FanoutSmallSize);
                    await AbortAllAsync();
                    await FanoutAsync(target, "fanout-large", sizes.FanoutSmallRooms * sizes.FanoutSmallSize, sizes.FanoutLargeRooms, sizes.FanoutLargeSize);
                    break;
                case "direct":
                    await DirectAsync(target);
                    break;
                case "storm":
                    await StormAsync(target);
                    break;
            }
        }
        catch (Exception e)
        {
            Log($"!! {target.Name} {scenario} failed: {e}");
            result.Results.Add(new ScenarioResult { Scenario = scenario, Target = target.Name, Ok = false, Notes = { "failed: " + e.Message } });
        }
        finally
        {
            // The host is shared with other virtual machines: CPU they take (steal) slows whichever target runs then.
            var steal = ProcStats.StealPercent(ticks, ProcStats.MachineTicks());
            foreach (var r in result.Results.Skip(firstResult))
            {
                r.Figures["stealPercent"] = steal;
            }

            Log($"   {scenario}: {steal:F1} % of the machine's CPU time stolen by the hypervisor");
            await AbortAllAsync();
            await target.StopNodesAsync();
        }
    }

    // ---- idle ----

    private async Task IdleAsync(Target target)
    {
        var n = sizes.IdleConnections;
        var users = await target.UsersAsync(0, n);
        var before = await target.MemoryAsync(0);
        var specs = users.Select((u, i) => Spec(target, i, u, 0, [])).ToList();
        var connect = await ConnectAsync(target, specs, "idle");
        Log($"   connected {connect.Connected}/{n} (failed {connect.Failed}); holding {sizes.IdleHoldMs} ms");
        var cpu0 = ServerCpu(target);
        var sw = Stopwatch.StartNew();
        await WithProgressAsync(target, "idle hold", Task.Delay(sizes.IdleHoldMs));
        var cpu = ServerCpu(target) - cpu0;
        var after = await target.MemoryAsync(0);
        var connected = Math.Max(1, connect.Connected);
        var r = new ScenarioResult { Scenario = "idle", Target = target.Name };
        r.Figures["connections"] = connect.Connected;
        r.Figures["failed"] = connect.Failed;
        r.Figures["serverConnections"] = after.Connections;
        r.Figures["heapBytesBefore"] = before.GcHeapBytes;
        r.Figures["heapBytesAfter"] = after.GcHeapBytes;
        r.Figures["rssBytesBefore"] = before.RssBytes;
        r.Figures["rssBytesAfter"] = after.RssBytes;
        r.Figures["heapBytesPerConnection"] = (after.GcHeapBytes - before.GcHeapBytes) / (double)connected;
        r.Figures["rssBytesPerConnection"] = (after.RssBytes - before.RssBytes) / (double)connected;
        r.Figures["idleCpuMsPerSecondPer1000"] = cpu * 1000 / sw.Elapsed.TotalSeconds / (connected / 1000.0);
        r.Latency = connect.Latency.Summary();
        r.Notes.AddRange(connect.Errors);
        result.Results.Add(r);
        Log($"   heap/conn {r.Figures["heapBytesPerConnection"]:F0} B, rss/conn {r.Figures["rssBytesPerConnection"]:F0} B");
    }

    // ---- fan-out ----

    private async Task FanoutAsync(Target target, string name, int userOffset, int rooms, int size)
    {
        var users = await target.UsersAsync(userOffset, rooms * size);
        var specs = new List<ClientSpec>();
        var sends = new List<SendSpec>();
        for (var r = 0; r < rooms; r++)
        {
            var members = users.GetRange(r * size, size);
            var room = await target.RoomAsync("fan", members);
            for (var m = 0; m < size; m++)
            {
                var id = r * size + m;
                specs.Add(Spec(target, id, members[m], id % target.NodeCount, [room]));
            }
        }

        // Senders take turns across rooms: message i goes to room i % rooms, from one of its members.
        for (var m = 0; m < size; m++)
        {
            for (var r = 0; r < rooms; r++)
            {
                sends.Add(new SendSpec { Client = r * size + m, Dest = specs[r * size + m].Rooms[0] });
            }
        }

        var connect = await ConnectAsync(target, specs, name);
        Log($"   {name}: {connect.Connected}/{specs.Count} connected in {rooms} rooms of {size}");
        var rate = sizes.FanoutDeliveriesPerSecond / size;
        var load = await LoadAsync(target, name, sends, rate, sizes.FanoutWarmupMs, sizes.FanoutDurationMs);
        var expected = load.Offered * size;
        var r0 = new ScenarioResult { Scenario = name, Target = target.Name };
        r0.Figures["roomSize"] = size;
        r0.Figures["rooms"] = rooms;
        r0.Figures["messagesPerSecond"] = rate;
        r0.Figures["offeredMessages"] = load.Offered;
        r0.Figures["deliveries"] = load.Delivered;
        r0.Figures["deliveredFraction"] = expected == 0 ? 0 : load.Delivered / (double)expected;
        r0.Figures["serverCpuSeconds"] = load.ServerCpu;
        r0.Figures["backendCpuSeconds"] = load.BackendCpu;
        r0.Figures["deliveriesPerServerCpuSecond"] = load.ServerCpu <= 0 ? 0 : load.Delivered / load.ServerCpu;
        r0.Figures["deliveriesPerTotalCpuSecond"] = load.ServerCpu + load.BackendCpu <= 0 ? 0 : load.Delivered / (load.ServerCpu + load.BackendCpu);
        r0.Figures["deliveriesPerSecond"] = load.Delivered / (sizes.FanoutDurationMs / 1000.0);
        if (_floorBefore.TryGetValue(target.Name, out var floor))
        {
            r0.Figures["sendFloorMicroseconds"] = floor["cpuMicrosecondsPerSend"];
        }

        r0.Latency = load.Delivery.Summary();
        r0.LatencyCurve = load.Delivery.Curve();
        r0.Notes.AddRange(load.Errors);
        result.Results.Add(r0);
        Log($"   {name}: {r0.Figures["deliveriesPerServerCpuSecond"]:F0} deliveries/server CPU-s, p99 {r0.Latency.P99Ms:F2} ms, delivered {r0.Figures["deliveredFraction"]:P1}");
    }

    // ---- direct ----

    private async Task DirectAsync(Target target)
    {
        var pairs = sizes.DirectPairs;
        var offset = sizes.FanoutSmallRooms * sizes.FanoutSmallSize + sizes.FanoutLargeRooms * sizes.FanoutLargeSize;
        var users = await target.UsersAsync(offset, pairs * 2);
        var specs = new List<ClientSpec>();
        var sends = new List<SendSpec>();
        var dests = new string[pairs * 2];
        await Parallel.ForEachAsync(Enumerable.Range(0, pairs), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (p, _) =>
        {
            var a = users[2 * p];
            var b = users[2 * p + 1];
            dests[2 * p] = await target.DirectAsync(a, b);
            dests[2 * p + 1] = target.DirectToUser ? await target.DirectAsync(b, a) : dests[2 * p];
        });
        for (var p = 0; p < pairs; p++)
        {
            // a on node 0, b on node 1: every message crosses between nodes (RabbitMQ / the Redis adapter).
            specs.Add(Spec(target, 2 * p, users[2 * p], 0, []));
            specs.Add(Spec(target, 2 * p + 1, users[2 * p + 1], 1 % target.NodeCount, []));
        }

        for (var p = 0; p < pairs; p++)
        {
            sends.Add(new SendSpec { Client = 2 * p, Dest = dests[2 * p], Direct = target.DirectToUser });
        }

        for (var p = 0; p < pairs; p++)
        {
            sends.Add(new SendSpec { Client = 2 * p + 1, Dest = dests[2 * p + 1], Direct = target.DirectToUser });
        }

        var connect = await ConnectAsync(target, specs, "direct");
        Log($"   direct: {connect.Connected}/{specs.Count} connected ({pairs} pairs across nodes)");
        var acked = target.Name == "parley";
        await LoadAsync(target, "direct warm-up", sends, sizes.DirectSteps[0], 0, sizes.DirectWarmupMs, skipOwn: true);
        var steps = new List<StepResult>();
        double max = 0;
        foreach (var offered in sizes.DirectSteps)
        {
            var load = await LoadAsync(target, $"direct {offered}/s", sends, offered, 1_000, sizes.DirectStepMs, skipOwn: true);
            var count = acked ? load.Acked : load.Delivered;
            var hist = acked ? load.Ack : load.Delivery;
            var step = new StepResult
            {
                Offered = offered,
                Achieved = count / (sizes.DirectStepMs / 1000.0),
                P99Ms = hist.Percentile(99) / 1000.0,
                ServerCpuPerSecond = load.ServerCpu / (sizes.DirectStepMs / 1000.0),
            };
            step.Sustained = load.Offered > 0 && count >= 0.99 * load.Offered && step.P99Ms <= 500 && load.Delivered >= 0.99 * load.Offered;
            steps.Add(step);
            Log($"   step {offered}/s: {(acked ? "acked" : "delivered")} {step.Achieved:F0}/s, p99 {step.P99Ms:F1} ms, server CPU {step.ServerCpuPerSecond:F2} cores → {(step.Sustained ? "sustained" : "not sustained")}");
            if (!step.Sustained)
            {
                break;
            }

            max = step.Achieved;
        }

        var rMax = new ScenarioResult { Scenario = "direct-max", Target = target.Name, Steps = steps };
        rMax.Figures["maxSustainedPerSecond"] = max;
        rMax.Figures["pairs"] = pairs;
        result.Results.Add(rMax);
        if (acked)
        {
            _parleyHalfRate = Math.Max(max / 2, sizes.DirectSteps[0] / 2);
        }

        var half = _parleyHalfRate > 0 ? _parleyHalfRate : Math.Max(max / 2, sizes.DirectSteps[0] / 2);

        // The step that was not sustained left a backlog queued in the server (tens of thousands of messages after a
        // high step); the latency step measures the offered rate, not the draining of that backlog.
        var settle = await SettleAsync(target);
        Log($"   direct: the server was quiet {settle.Seconds:F1} s after the last step{(settle.Quiet ? "" : " (not quiet yet: measuring anyway)")}");
        // LoadAsync starts its load 0.5 s from now and measures after a 2 s lead-in.
        var resetAt = Stopwatch.GetTimestamp() + (long)(2.5 * Stopwatch.Frequency);
        var nodeTiming = NodeTimingAsync(target, resetAt);
        var latency = await LoadAsync(target, $"direct latency at {half:F0}/s", sends, half, 2_000, sizes.DirectLatencyMs, skipOwn: true);
        var rLat = new ScenarioResult { Scenario = "direct-latency", Target = target.Name };
        AddNodeTiming(rLat, await nodeTiming);
        rLat.Figures["offeredPerSecond"] = half;
        rLat.Figures["settleSeconds"] = settle.Seconds;
        if (!settle.Quiet)
        {
            rLat.Notes.Add($"the server still used {settle.Cores:F2} cores {settle.Seconds:F0} s after the last step; the latency window may include its backlog");
        }

        rLat.Figures["offered"] = latency.Offered;
        rLat.Figures["delivered"] = latency.Delivered;
        rLat.Figures["acked"] = latency.Acked;
        rLat.Figures["serverCpuSeconds"] = latency.ServerCpu;
        rLat.Figures["backendCpuSeconds"] = latency.BackendCpu;
        rLat.Latency = latency.Delivery.Summary();
        rLat.LatencyCurve = latency.Delivery.Curve();
        if (acked)
        {
            rLat.AckLatency = latency.Ack.Summary();
            rLat.AckCurve = latency.Ack.Curve();
        }

        rLat.Notes.AddRange(latency.Errors);
        result.Results.Add(rLat);
        Log($"   latency at {half:F0}/s: delivery p50 {rLat.Latency.P50Ms:F2} p99 {rLat.Latency.P99Ms:F2} p99.9 {rLat.Latency.P999Ms:F2} ms" +
            (acked ? $"; ack p50 {rLat.AckLatency!.P50Ms:F2} p99 {rLat.AckLatency.P99Ms:F2} ms" : ""));
    }

    /// <summary>
    /// The nodes' own timing of acknowledged sends over the measured window: reset when the window opens (after the
    /// load's 2 s lead-in), read after it. Null for targets that acknowledge nothing.
    /// </summary>
    private async Task<List<NodeLatency>?> NodeTimingAsync(Target target, long resetAt)
    {
        if (await target.NodeLatencyAsync(0, reset: false) is null)
        {
            return null;
        }

        await SleepUntil(resetAt);
        for (var n = 0; n < target.NodeCount; n++)
        {
            await target.NodeLatencyAsync(n, reset: true);
        }

        await SleepUntil(resetAt + (sizes.DirectLatencyMs * Stopwatch.Frequency / 1000));
        var readings = new List<NodeLatency>();
        for (var n = 0; n < target.NodeCount; n++)
        {
            readings.Add((await target.NodeLatencyAsync(n, reset: false))!);
        }

        return readings;
    }

    /// <summary>
    /// Records the nodes' timing as figures: counts summed, means and percentiles averaged over the nodes weighted by
    /// their counts (the direct scenario's nodes carry equal halves of the load).
    /// </summary>
    private static void AddNodeTiming(ScenarioResult r, List<NodeLatency>? nodes)
    {
        if (nodes is null)
        {
            return;
        }

        void Add(string name, Func<NodeLatency, NodeTiming> pick)
        {
            var total = nodes.Sum(n => pick(n).Count);
            r.Figures[$"node.{name}.count"] = total;
            if (total == 0)
            {
                return;
            }

            r.Figures[$"node.{name}.meanUs"] = nodes.Sum(n => pick(n).MeanUs * pick(n).Count) / total;
            r.Figures[$"node.{name}.p50Us"] = nodes.Sum(n => pick(n).P50Us * pick(n).Count) / total;
            r.Figures[$"node.{name}.p99Us"] = nodes.Sum(n => pick(n).P99Us * pick(n).Count) / total;
        }

        Add("send", n => n.Send);
        Add("commitWait", n => n.CommitWait);
        Add("commit", n => n.Commit);
        Add("batchSize", n => n.BatchSize);
    }

    // ---- reconnect storm ----

    private async Task StormAsync(Target target)
    {
        var n = sizes.StormClients;
        var size = sizes.StormRoomSize;
        var offset = sizes.FanoutSmallRooms * sizes.FanoutSmallSize + sizes.FanoutLargeRooms * sizes.FanoutLargeSize + 2 * sizes.DirectPairs;
        var users = await target.UsersAsync(offset, n);
        var specs = new List<ClientSpec>();
        var rooms = new List<(string Room, User Owner)>();
        for (var r = 0; r * size < n; r++)
        {
            var members = users.GetRange(r * size, Math.Min(size, n - r * size));
            var room = await target.RoomAsync("storm", members);
            rooms.Add((room, members[0]));
            for (var m = 0; m < members.Count; m++)
            {
                var id = r * size + m;
                specs.Add(Spec(target, id, members[m], id % target.NodeCount, [room]));
            }
        }

        // Parley: one message per room from before the storm, so the warm-up's resumes read it back from the store
        // (their rooms' routes never saw it) as the storm's will: the warm-up then runs the same catch-up code.
        var parley = target.Name == "parley";
        if (parley)
        {
            await PostToEachAsync(target, rooms, "said before the storm");
        }

        var first = await ConnectAsync(target, specs, "storm: first connect");
        var resumeFrom = parley ? specs.ToDictionary(s => s.Id, s => new Dictionary<string, long> { [s.Rooms[0]] = 0 }) : null;

        // Warm-up: every tenth client drops and comes straight back (Parley's with resume, getting the message from
        // before) at the storm's rate, so the measured storm runs on code that has run before, as on a server that has
        // been up a while. Without it the storm window is also the JIT's: a profile put 10 % of the nodes' and 14 % of
        // the generator's CPU in it, and a warm-up without a message to resume left the catch-up's code (store read,
        // message frames) to be compiled in the storm: 0.4–0.5 s of JIT per node in its first second.
        var warm = specs.Where((_, i) => i % 10 == 0).ToList();
        foreach (var s in warm)
        {
            s.Resume = resumeFrom?[s.Id];
        }

        var warmed = await ConnectAsync(target, warm, "storm: warm-up", Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 10), Math.Max(1, sizes.StormWindowMs / 10), parley ? 1 : 0);
        await Task.Delay(sizes.StormSettleMs);
        Log($"   storm: {first.Connected}/{n} connected ({warmed.Connected}/{warm.Count} back from the warm-up{(parley ? $", {warmed.WithBacklog} with the earlier message" : "")}); dropping every connection");
        await AbortAllAsync();

        // Wait until every server has seen every connection go, asking without a forced collection: a full GC in the
        // aggressive mode right before the storm would hand the heap back to the OS, and the storm would fault it in again.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var left = 0;
            for (var i = 0; i < target.NodeCount; i++)
            {
                left += (await target.MemoryAsync(i, collect: false)).Connections;
            }

            if (left == 0)
            {
                break;
            }

            await Task.Delay(250);
        }

        // While everyone is away, one message per room is stored (Parley); each client must get it back through resume,
        // with the one from before the storm (both follow the cursor it resumes from).
        var expectBacklog = parley ? 2 : 0;
        if (parley)
        {
            await PostToEachAsync(target, rooms, "missed while away");
            foreach (var s in specs)
            {
                s.Resume = resumeFrom![s.Id];
            }
        }

        var cpu0 = ServerCpu(target);
        var backend0 = BackendCpu(target);
        var generator0 = GeneratorCpu();
        var overflows0 = ProcStats.ListenOverflows();
        var startAt = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        var storm = await ConnectAsync(target, specs, "storm", startAt, sizes.StormWindowMs, expectBacklog);
        var r0 = new ScenarioResult { Scenario = "storm", Target = target.Name };
        r0.Figures["listenOverflows"] = ProcStats.ListenOverflows() - overflows0;
        r0.Figures["clients"] = n;
        r0.Figures["reconnected"] = storm.Connected;
        r0.Figures["failed"] = storm.Failed;
        r0.Figures["resumed"] = expectBacklog > 0 ? storm.WithBacklog : double.NaN;
        r0.Figures["windowMs"] = sizes.StormWindowMs;
        r0.Figures["serverCpuSeconds"] = ServerCpu(target) - cpu0;
        r0.Figures["backendCpuSeconds"] = BackendCpu(target) - backend0;
        r0.Figures["generatorCpuSeconds"] = GeneratorCpu() - generator0;
        r0.Latency = storm.Latency.Summary();
        r0.LatencyCurve = storm.Latency.Curve();
        r0.Notes.AddRange(storm.Errors);
        result.Results.Add(r0);
        Log($"   storm: {storm.Connected}/{n} back {(expectBacklog > 0 ? $"(resumed with both messages: {storm.WithBacklog})" : "(nothing to resume)")}, p50 {r0.Latency.P50Ms:F0} p99 {r0.Latency.P99Ms:F0} max {r0.Latency.MaxMs:F0} ms");
    }

    // ---- plumbing ----

    private static async Task PostToEachAsync(Target target, List<(string Room, User Owner)> rooms, string body) =>
        await Parallel.ForEachAsync(rooms, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (r, _) => await target.PostAsync(r.Owner, r.Room, body));

    private ClientSpec Spec(Target target, int id, User user, int node, List<string> rooms) => new()
    {
        Id = id,
        Port = target.NodePort(node),
        UserId = user.UserId,
        Token = user.Token,
        Rooms = rooms,
    };

    private sealed record ConnectOutcome(int Connected, int Failed, int WithBacklog, Histogram Latency, List<string> Errors);

    private async Task<ConnectOutcome> ConnectAsync(Target target, List<ClientSpec> specs, string what, long startAt = 0, int windowMs = 0, int expectBacklog = 0)
    {
        var w = fleet.Count;
        var task = fleet.RunAsync(i => new WorkerCommand
        {
            Cmd = "connect",
            Target = target.Name,
            Clients = specs.Where(s => s.Id % w == i).ToList(),
            LocalAddresses = _localAddresses,
            Concurrency = 32,
            StartAt = startAt,
            WindowMs = windowMs,
            ExpectBacklog = expectBacklog,
        });
        var replies = await WithProgressAsync(target, what, task);
        var latency = new Histogram();
        foreach (var r in replies)
        {
            latency.Merge(Histogram.FromData(r.ConnectLatency));
        }

        return new ConnectOutcome(replies.Sum(r => r.Connected), replies.Sum(r => r.Failed), replies.Sum(r => r.WithBacklog), latency, replies.SelectMany(r => r.ErrorSamples).Distinct().Take(5).ToList());
    }

    private sealed record LoadOutcome(long Offered, long Acked, long Delivered, Histogram Ack, Histogram Delivery, double ServerCpu, double BackendCpu, List<string> Errors);

    private async Task<LoadOutcome> LoadAsync(Target target, string what, List<SendSpec> sends, double rate, int warmupMs, int durationMs, bool skipOwn = false)
    {
        var w = fleet.Count;
        var f = Stopwatch.Frequency;
        var startAt = Stopwatch.GetTimestamp() + f / 2;
        var perWorker = Enumerable.Range(0, w).Select(i => sends.Where(s => s.Client % w == i).ToList()).ToList();
        var task = fleet.RunAsync(i => new WorkerCommand
        {
            Cmd = "load",
            Sends = perWorker[i],
            Rate = sends.Count == 0 ? 0 : rate * perWorker[i].Count / sends.Count,
            StartAt = startAt,
            WarmupMs = warmupMs,
            DurationMs = durationMs,
            GraceMs = sizes.GraceMs,
            SkipOwn = skipOwn,
        });

        // Server CPU over exactly the measured window.
        var measureFrom = startAt + (warmupMs * f / 1000);
        var measureTo = measureFrom + (durationMs * f / 1000);
        await SleepUntil(measureFrom);
        var cpu0 = ServerCpu(target);
        var backend0 = BackendCpu(target);
        var window = SleepUntil(measureTo);
        await WithProgressAsync(target, what, window);
        var cpu = ServerCpu(target) - cpu0;
        var backend = BackendCpu(target) - backend0;
        var replies = await task;
        var ack = new Histogram();
        var delivery = new Histogram();
        foreach (var r in replies)
        {
            ack.Merge(Histogram.FromData(r.AckLatency));
            delivery.Merge(Histogram.FromData(r.DeliveryLatency));
        }

        return new LoadOutcome(replies.Sum(r => r.Offered), replies.Sum(r => r.Acked), replies.Sum(r => r.Delivered), ack, delivery, cpu, backend,
            replies.SelectMany(r => r.ErrorSamples).Distinct().Take(5).ToList());
    }

    /// <summary>
    /// Waits until the chat servers are quiet: under <see cref="QuietCores"/> of a core over two successive half-second
    /// samples, for at most <see cref="MaxSettle"/>. Returns whether they were, when, and their last reading.
    /// </summary>
    private static async Task<(bool Quiet, double Seconds, double Cores)> SettleAsync(Target target)
    {
        var started = Stopwatch.GetTimestamp();
        var quietSamples = 0;
        var cores = double.NaN;
        var cpu = ServerCpu(target);
        while (quietSamples < 2 && Stopwatch.GetElapsedTime(started) < MaxSettle)
        {
            await Task.Delay(500);
            var now = ServerCpu(target);
            cores = (now - cpu) / 0.5;
            cpu = now;
            quietSamples = cores < QuietCores ? quietSamples + 1 : 0;
        }

        return (quietSamples >= 2, Stopwatch.GetElapsedTime(started).TotalSeconds, cores);
    }

    private static async Task SleepUntil(long timestamp)
    {
        var wait = timestamp - Stopwatch.GetTimestamp();
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
        }
    }

    private Task AbortAllAsync() => fleet.RunAsync(_ => new WorkerCommand { Cmd = "abort" });

    private static double ServerCpu(Target target) => target.ServerPids.Sum(p => ProcStats.CpuSeconds(p));

    /// <summary>The load generator's own CPU (this process and its workers): it shares the cores with what it measures.</summary>
    private double GeneratorCpu() => ProcStats.CpuSeconds(Environment.ProcessId) + fleet.Pids.Sum(p => ProcStats.CpuSeconds(p));

    private static double BackendCpu(Target target) => target.BackendProcesses.Sum(p => ProcStats.CpuSeconds(p.Pid, p.Tree));

    /// <summary>Live progress every few seconds while <paramref name="work"/> runs: server CPU, RSS and the workers' counts.</summary>
    private async Task<T> WithProgressAsync<T>(Target target, string what, Task<T> work)
    {
        await WithProgressAsync(target, what, (Task)work);
        return await work;
    }

    private async Task WithProgressAsync(Target target, string what, Task work)
    {
        var sw = Stopwatch.StartNew();
        var cpu = ServerCpu(target);
        var last = sw.Elapsed;
        while (await Task.WhenAny(work, Task.Delay(5_000)) != work)
        {
            var nowCpu = ServerCpu(target);
            var elapsed = sw.Elapsed;
            var cores = (nowCpu - cpu) / (elapsed - last).TotalSeconds;
            cpu = nowCpu;
            last = elapsed;
            var rss = target.ServerPids.Sum(ProcStats.RssBytes) / (1024.0 * 1024);
            var counts = new Dictionary<string, long>();
            foreach (var p in fleet.Progress)
            {
                foreach (var prop in p.EnumerateObject().Where(x => x.Name != "worker"))
                {
                    counts[prop.Name] = counts.GetValueOrDefault(prop.Name) + prop.Value.GetInt64();
                }
            }

            Log($"   … {target.Name} {what} {elapsed.TotalSeconds:F0}s: server CPU {cores:F2} cores, RSS {rss:F0} MiB, " +
                string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}")));
        }

        await work;
    }

    public static void Log(string line) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {line}");
}
