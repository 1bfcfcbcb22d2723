using Parley.Chaos;
using Parley.Chaos.Scenarios;

// The fault campaign: eng/chaos.sh [--short] [--no-docs] [scenario...]
var all = new Func<Scenario>[]
{
    () => new NodeKill(),
    () => new NodeFreeze(),
    () => new RollingRestart(),
    () => new BackendRestart("rabbitmq"),
    () => new BackendRestart("rabbitmq", crash: true),
    () => new BackendRestart("postgres"),
    () => new BackendRestart("redis"),
    () => new BackendCutOff("rabbitmq"),
    () => new BackendCutOff("postgres"),
    () => new BackendCutOff("redis"),
    () => new HalfOpen(),
    () => new SlowConsumer(),
    () => new ReconnectStorm(),
    () => new AckDrop(),
    () => new ClockSkew(),
};
string[] shortSet = ["node-kill", "postgres-restart", "ack-drop"];

var isShort = args.Contains("--short");
var writeDocs = !args.Contains("--no-docs") && !isShort;
var names = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
var catalogue = all.Select(make => (Name: make().Name, Make: make)).ToList();
if (args.Contains("--list"))
{
    catalogue.ForEach(s => Console.WriteLine(s.Name));
    return 0;
}

var unknown = names.Where(n => catalogue.All(s => s.Name != n)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"unknown scenario(s): {string.Join(", ", unknown)}; known: {string.Join(", ", catalogue.Select(s => s.Name))}");
    return 2;
}

var selected = names.Count > 0 ? catalogue.Where(s => names.Contains(s.Name)).ToList()
    : isShort ? catalogue.Where(s => shortSet.Contains(s.Name)).ToList()
    : catalogue;
var options = isShort ? CampaignOptions.Short : CampaignOptions.Full;
Console.WriteLine($"Parley fault campaign: {selected.Count} scenario(s), {options.Users} clients, {options.Rooms} rooms, {options.Rate} sends/s offered");
var results = new List<ScenarioResult>();
foreach (var (name, make) in selected)
{
    try
    {
        results.Add(await Runner.RunAsync(make(), options));
    }
    catch (Exception e)
    {
        Console.Error.WriteLine($"{name}: the run itself failed: {e}");
        results.Add(ScenarioResult.Failed(make(), e));
    }
}

Console.WriteLine();
Console.WriteLine(Report.Table(results));
foreach (var r in results)
{
    Console.WriteLine($"{r.Scenario.Name}: {string.Join("; ", r.Figures.Select(f => $"{f.Name} {f.Value}"))}");
    foreach (var line in r.Violations.Concat(r.Findings.Take(15)))
    {
        Console.WriteLine("  " + line);
    }
}

if (writeDocs)
{
    var path = Report.Write(results, options);
    Console.WriteLine($"wrote {path}");
}

var failed = results.Count(r => !r.Passed);
Console.WriteLine(failed == 0 ? "campaign green" : $"campaign RED: {failed} scenario(s) with violations");
return failed == 0 ? 0 : 1;
