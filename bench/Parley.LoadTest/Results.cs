namespace Parley.LoadTest;

/// <summary>Everything one run measured (written as results.json; the report is generated from it).</summary>
public sealed class RunResult
{
    public string Mode { get; set; } = "full";

    public string StartedUtc { get; set; } = "";

    public string Commit { get; set; } = "";

    public int Cores { get; set; } = Environment.ProcessorCount;

    public string LoadAverageBefore { get; set; } = "";

    public string LoadAverageAfter { get; set; } = "";

    public double WallSeconds { get; set; }

    public Sizes Sizes { get; set; } = new();

    public Dictionary<string, string> Targets { get; set; } = [];

    public List<ScenarioResult> Results { get; set; } = [];

    /// <summary>The machine's send floor (<see cref="SendFloor"/>), measured once per run with the fan-out scenario.</summary>
    public Dictionary<string, double>? SendFloor { get; set; }
}

/// <summary>One scenario on one target.</summary>
public sealed class ScenarioResult
{
    public string Scenario { get; set; } = "";

    public string Target { get; set; } = "";

    public bool Ok { get; set; } = true;

    /// <summary>Named figures (see the report for their meaning).</summary>
    public Dictionary<string, double> Figures { get; set; } = [];

    public LatencySummary? Latency { get; set; }

    public List<double[]>? LatencyCurve { get; set; }

    public LatencySummary? AckLatency { get; set; }

    public List<double[]>? AckCurve { get; set; }

    public List<StepResult>? Steps { get; set; }

    public List<string> Notes { get; set; } = [];

    public double Figure(string name) => Figures.TryGetValue(name, out var v) ? v : double.NaN;
}

/// <summary>One offered rate of the direct scenario's search for the maximum sustained rate.</summary>
public sealed class StepResult
{
    public double Offered { get; set; }

    public double Achieved { get; set; }

    public double P99Ms { get; set; }

    public bool Sustained { get; set; }

    public double ServerCpuPerSecond { get; set; }
}
