using System.Globalization;
using System.Text;
using Parley.Testing;

namespace Parley.Chaos;

/// <summary>The console table and the generated <c>docs/reliability.md</c> with one timeline SVG per scenario.</summary>
public static class Report
{
    private const string IntroEnd = "<!-- generated below by eng/chaos.sh: do not edit by hand -->";

    public static string Table(IReadOnlyList<ScenarioResult> results)
    {
        var rows = results.Select(r => new[]
        {
            r.Scenario.Name, N(r.Verdict.Sent), N(r.Verdict.Acked), N(r.Verdict.Unacked), N(r.Verdict.Lost), N(r.Verdict.Duplicated),
            N(r.Verdict.Unexpected), N(r.Verdict.OrderViolations), N(r.Violations.Count), r.Passed ? "ok" : "FAIL",
        }).ToList();
        string[] header = ["scenario", "sent", "acked", "unacked", "lost", "dup", "unexpected", "order", "other", "result"];
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var text = new StringBuilder();
        text.AppendLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))));
        foreach (var row in rows)
        {
            text.AppendLine(string.Join("  ", row.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))));
        }

        return text.ToString();
    }

    /// <summary>Regenerates docs/reliability.md (keeping its hand-written intro) and docs/reliability/*.svg; returns the path.</summary>
    public static string Write(IReadOnlyList<ScenarioResult> results, CampaignOptions options)
    {
        var docs = Path.Combine(RepositoryRoot.Path, "docs");
        var charts = Path.Combine(docs, "reliability");
        Directory.CreateDirectory(charts);
        var path = Path.Combine(docs, "reliability.md");
        // Everything above the marker is hand-written and kept; a page without the marker is kept whole as the intro.
        var old = File.Exists(path) ? File.ReadAllText(path) : "# Reliability\n\n";
        var intro = old.Contains(IntroEnd, StringComparison.Ordinal) ? old[..old.IndexOf(IntroEnd, StringComparison.Ordinal)] : old.TrimEnd() + "\n\n";
        var md = new StringBuilder(intro).AppendLine(IntroEnd).AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run of {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC on {Environment.ProcessorCount} cores: 3 nodes behind nginx, PostgreSQL, RabbitMQ, Redis; {options.Users} SDK clients in {options.Rooms} rooms and {options.Users / 2} DMs, {options.Rate} sends/s offered. Command: `eng/chaos.sh`.");
        md.AppendLine();
        md.AppendLine("| scenario | sent | acked | unacked | lost | duplicated | unexpected | order violations | other violations | result |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            var v = r.Verdict;
            md.AppendLine(CultureInfo.InvariantCulture, $"| [{r.Scenario.Name}](#{r.Scenario.Name}) | {v.Sent} | {v.Acked} | {v.Unacked} | {v.Lost} | {v.Duplicated} | {v.Unexpected} | {v.OrderViolations} | {r.Violations.Count} | {(r.Passed ? "ok" : "**FAIL**")} |");
        }

        md.AppendLine();
        md.AppendLine("`unacked` counts sends still without an ack when the run ended (the SDK resends until acked, so it should be 0); `other violations` are the scenario's own expectations, listed under it.");
        foreach (var r in results)
        {
            md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"## {r.Scenario.Name}").AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**Fault:** {r.Scenario.Fault}. **Expected:** lost = duplicated = unexpected = order violations = 0; {r.Scenario.Expectation}.").AppendLine();
            if (r.Seconds.Count > 0)
            {
                var svg = $"{r.Scenario.Name}.svg";
                File.WriteAllText(Path.Combine(charts, svg), TimelineSvg.Render(r));
                md.AppendLine(CultureInfo.InvariantCulture, $"![{r.Scenario.Name} timeline](reliability/{svg})").AppendLine();
            }

            md.AppendLine("| figure | value |").AppendLine("|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| run time | {r.Duration:F0} s |");
            foreach (var (name, value) in r.Figures)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {value} |");
            }

            foreach (var line in r.Violations.Select(v => "violation: " + v).Concat(r.Findings.Take(10)))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"\n- {line}");
            }
        }

        File.WriteAllText(path, md.ToString());
        return path;
    }

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A small SVG chart: sends acked and refused per second and connection drops, the fault window shaded.</summary>
public static class TimelineSvg
{
    private const int Width = 720, Height = 220, Left = 44, Right = 12, Top = 26, Bottom = 30;

    public static string Render(ScenarioResult r)
    {
        var seconds = r.Seconds;
        var peak = Math.Max(1, seconds.Max(b => Math.Max(Math.Max(b.Acked, b.Sent), Math.Max(b.Refused, b.Dropped))));
        double X(double t) => Left + (t / Math.Max(1, seconds.Count)) * (Width - Left - Right);
        double Y(double v) => Height - Bottom - (v / peak * (Height - Top - Bottom));
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"11\">");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        if (r.FaultStart is { } fs)
        {
            var fe = r.FaultEnd ?? seconds.Count;
            svg.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{X(fs):F1}\" y=\"{Top}\" width=\"{Math.Max(1, X(fe) - X(fs)):F1}\" height=\"{Height - Top - Bottom}\" fill=\"#f6d5d5\"/>");
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{X(fs) + 3:F1}\" y=\"{Top + 12}\" fill=\"#a33\">fault</text>");
        }

        svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"#555\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"#555\"/>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{Top + 4}\" text-anchor=\"end\">{peak}/s</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{Height - Bottom}\" text-anchor=\"end\">0</text>");
        for (var t = 0; t < seconds.Count; t += 10)
        {
            svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{X(t):F1}\" y=\"{Height - Bottom + 14}\" text-anchor=\"middle\">{t}s</text>");
        }

        Series(svg, seconds.Select(b => b.Acked), X, Y, "#2b6cb0");
        Series(svg, seconds.Select(b => b.Refused), X, Y, "#c53030");
        Series(svg, seconds.Select(b => b.Dropped), X, Y, "#d69e2e");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"14\" font-weight=\"bold\">{r.Scenario.Name}</text>");
        svg.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{Left + 160}\" y=\"14\" fill=\"#2b6cb0\">acked/s</text><text x=\"{Left + 230}\" y=\"14\" fill=\"#c53030\">refused/s (unavailable, rate limited)</text><text x=\"{Left + 450}\" y=\"14\" fill=\"#d69e2e\">connections dropped/s</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static void Series(StringBuilder svg, IEnumerable<int> values, Func<double, double> x, Func<double, double> y, string color)
    {
        var points = string.Join(" ", values.Select((v, t) => string.Create(CultureInfo.InvariantCulture, $"{x(t + 0.5):F1},{y(v):F1}")));
        svg.AppendLine(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{points}\"/>");
    }
}
