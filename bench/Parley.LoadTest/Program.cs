using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Parley.LoadTest;

// Parley.LoadTest — run:    dotnet Parley.LoadTest.dll run [--smoke] [--out DIR] [--docs FILE] [--targets a,b] [--scenarios a,b] [--workers N]
//                   report: dotnet Parley.LoadTest.dll report --in results.json --docs FILE
//                   worker: started by run, one per process of clients.
var verb = args.Length > 0 ? args[0] : "run";
string Opt(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

bool Flag(string name) => args.Contains(name);

switch (verb)
{
    case "worker":
        return await Worker.RunAsync(int.Parse(args[1], CultureInfo.InvariantCulture));
    case "report":
        {
            var run = JsonSerializer.Deserialize<RunResult>(File.ReadAllText(Opt("--in", "artifacts/bench/results.json")), Json.Options)!;
            WriteReport(run, Opt("--docs", "docs/performance.md"), FindRepo());
            return 0;
        }

    case "run":
        break;
    default:
        Console.Error.WriteLine("usage: Parley.LoadTest run|report|worker …");
        return 2;
}

var smoke = Flag("--smoke");
var repo = FindRepo();
var sizes = smoke ? Sizes.Smoke : Sizes.Full;
if (Opt("--workers", "") is { Length: > 0 } workers)
{
    sizes = sizes with { Workers = int.Parse(workers, CultureInfo.InvariantCulture) };
}

// --set Name=Value overrides one of the Sizes (e.g. --set IdleConnections=3000), for exploring; reports say what ran.
for (var i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--set")
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(sizes, Json.Options))!.AsObject();
        var (key, value) = (args[i + 1].Split('=')[0], args[i + 1].Split('=')[1]);
        var name = char.ToLowerInvariant(key[0]) + key[1..];
        // A list (DirectSteps=500,1000) or a one-element list for a list-valued size (DirectSteps=1000).
        node[name] = value.Contains(',', StringComparison.Ordinal) || node[name] is System.Text.Json.Nodes.JsonArray
            ? System.Text.Json.Nodes.JsonNode.Parse("[" + value + "]")
            : System.Text.Json.Nodes.JsonNode.Parse(value);
        sizes = node.Deserialize<Sizes>(Json.Options)!;
    }
}

var outDir = Path.GetFullPath(Opt("--out", Path.Combine(repo, "artifacts", smoke ? "bench-smoke" : "bench")));
Directory.CreateDirectory(Path.Combine(outDir, "logs"));
var paths = new Paths(repo, outDir);
var targetNames = Opt("--targets", "parley,socketio,signalr").Split(',', StringSplitOptions.RemoveEmptyEntries);
var scenarios = Opt("--scenarios", string.Join(',', Runner.AllScenarios)).Split(',', StringSplitOptions.RemoveEmptyEntries);
var result = new RunResult
{
    Mode = smoke ? "smoke" : "full",
    StartedUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
    Commit = Git(repo, "rev-parse --short HEAD") + (Git(repo, "status --porcelain --untracked-files=no").Length > 0 ? "+dirty" : ""),
    LoadAverageBefore = LoadAverage(),
    Sizes = sizes,
};
var wall = Stopwatch.StartNew();
var targets = targetNames.Select<string, Target>(n => n switch
{
    "parley" => new ParleyTarget(paths),
    "socketio" => new SocketIoTarget(paths),
    "signalr" => new SignalRTarget(paths),
    _ => throw new ArgumentException("unknown target " + n),
}).ToList();

if (scenarios.Contains("fanout"))
{
    // Before any target starts: the floor is the machine's, measured with nothing else running.
    result.SendFloor = await SendFloor.MeasureAsync(sizes.FanoutSmallSize, sizes.FanoutDeliveriesPerSecond, sizes.SendFloorMs);
    Runner.Log($"send floor: {result.SendFloor["cpuMicrosecondsPerSend"]:F2} µs of CPU per send, {result.SendFloor["sendsPerCpuSecond"]:F0} sends per CPU-s");
}

await using (var fleet = Fleet.Start(sizes.Workers))
{
    await new Runner(sizes, fleet, result).RunAsync(targets, scenarios);
}

result.WallSeconds = wall.Elapsed.TotalSeconds;
result.LoadAverageAfter = LoadAverage();
var resultsFile = Path.Combine(outDir, "results.json");
File.WriteAllText(resultsFile, JsonSerializer.Serialize(result, Json.Indented));
Runner.Log($"results: {resultsFile}");
var docs = Opt("--docs", smoke ? Path.Combine(outDir, "performance.md") : Path.Combine(repo, "docs", "performance.md"));
WriteReport(result, docs, repo);
Runner.Log($"report: {docs}");
return smoke ? SmokeCheck(result, targetNames, scenarios) : 0;

static void WriteReport(RunResult run, string docs, string repo)
{
    docs = Path.GetFullPath(docs);
    var chartDir = Path.Combine(Path.GetDirectoryName(docs)!, "performance");
    Report.Write(run, docs, chartDir, "performance");
    var notes = Path.Combine(repo, "bench", "performance-notes.md");
    if (File.Exists(notes))
    {
        File.AppendAllText(docs, File.ReadAllText(notes));
    }
}

// The smoke run asserts only that every scenario ran on every target and produced sane, non-zero figures.
static int SmokeCheck(RunResult run, string[] targets, string[] scenarios)
{
    var problems = new List<string>();
    if (scenarios.Contains("fanout") && (run.SendFloor is not { } floor || !(floor["sends"] > 0) || floor["bytesReceived"] != floor["sends"] * 102))
    {
        problems.Add("send floor: no sends measured, or not every byte arrived");
    }

    foreach (var t in targets)
    {
        ScenarioResult? Get(string s) => run.Results.FirstOrDefault(r => r.Target == t && r.Scenario == s);
        void Need(string scenario, string figure, Func<double, bool> sane)
        {
            var r = Get(scenario);
            if (r is null || !r.Ok)
            {
                problems.Add($"{t} {scenario}: did not run ({string.Join("; ", r?.Notes ?? [])})");
            }
            else if (!sane(r.Figure(figure)))
            {
                problems.Add($"{t} {scenario}: {figure} = {r.Figure(figure)}");
            }
        }

        if (scenarios.Contains("idle"))
        {
            Need("idle", "connections", v => v > 0);
            Need("idle", "rssBytesAfter", v => v > 0);
        }

        if (scenarios.Contains("fanout"))
        {
            Need("fanout-small", "deliveries", v => v > 0);
            Need("fanout-large", "deliveries", v => v > 0);
            Need("fanout-large", "serverCpuSeconds", v => v >= 0);
        }

        if (scenarios.Contains("direct"))
        {
            Need("direct-latency", "delivered", v => v > 0);
            if (t == "parley")
            {
                Need("direct-latency", "acked", v => v > 0);
            }
        }

        if (scenarios.Contains("storm"))
        {
            Need("storm", "reconnected", v => v > 0);
        }
    }

    foreach (var p in problems)
    {
        Console.Error.WriteLine("SMOKE FAIL: " + p);
    }

    Console.Error.WriteLine(problems.Count == 0 ? "smoke run: every scenario ran on every target" : $"smoke run: {problems.Count} problem(s)");
    return problems.Count == 0 ? 0 : 1;
}

static string FindRepo()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
        {
            return dir.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}

static string Git(string repo, string arguments)
{
    try
    {
        var psi = new ProcessStartInfo("git", arguments) { WorkingDirectory = repo, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return text;
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "";
    }
}

static string LoadAverage()
{
    try
    {
        return string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
    }
    catch (IOException)
    {
        return "?";
    }
}
