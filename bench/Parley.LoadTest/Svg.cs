using System.Globalization;
using System.Net;
using System.Text;

namespace Parley.LoadTest;

/// <summary>Small self-contained SVG charts: horizontal bars, and latency-by-percentile curves (HDR style).</summary>
public static class Svg
{
    private static readonly string[] Colors = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#e53e3e", "#718096"];

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Horizontal bars, one per (label, value); <paramref name="format"/> renders the value label.</summary>
    public static string Bars(string title, string unit, IReadOnlyList<(string Label, double Value)> bars, Func<double, string> format)
    {
        const int width = 720, left = 230, barHeight = 26, gap = 10, top = 44;
        var height = top + bars.Count * (barHeight + gap) + 30;
        var max = Math.Max(1e-9, bars.Select(b => double.IsFinite(b.Value) ? b.Value : 0).DefaultIfEmpty(0).Max());
        var sb = Begin(width, height, title);
        for (var i = 0; i < bars.Count; i++)
        {
            var (label, value) = bars[i];
            var y = top + i * (barHeight + gap);
            var w = double.IsFinite(value) ? Math.Max(1, (width - left - 120) * value / max) : 0;
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 8}\" y=\"{y + 18}\" text-anchor=\"end\">{Esc(label)}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{y}\" width=\"{F(w)}\" height=\"{barHeight}\" fill=\"{Colors[i % Colors.Length]}\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(left + w + 6)}\" y=\"{y + 18}\">{Esc(double.IsFinite(value) ? format(value) : "n/a")}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{height - 8}\" fill=\"#555\">{Esc(unit)}</text>");
        return End(sb);
    }

    /// <summary>Latency (ms, log scale) by percentile (x: 1/(1-p), log scale), one line per series.</summary>
    public static string LatencyCurves(string title, IReadOnlyList<(string Label, List<double[]> Points)> series)
    {
        const int width = 720, height = 380, left = 70, right = 170, top = 44, bottom = 50;
        var plotW = width - left - right;
        var plotH = height - top - bottom;
        static double X(double p) => Math.Log10(1 / (1 - Math.Min(p, 99.99) / 100.0)); // 0 … 4
        var values = series.SelectMany(s => s.Points.Select(p => p[1])).Where(v => v > 0).DefaultIfEmpty(1).ToList();
        var yMin = Math.Pow(10, Math.Floor(Math.Log10(Math.Max(0.01, values.Min()))));
        var yMax = Math.Pow(10, Math.Ceiling(Math.Log10(Math.Max(yMin * 10, values.Max()))));
        double Y(double v) => top + plotH - (plotH * (Math.Log10(Math.Max(v, yMin)) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)));
        double Px(double p) => left + (plotW * X(p) / 4.0);

        var sb = Begin(width, height, title);
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#ccc\"/>");
        foreach (var (p, label) in new[] { (0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%") })
        {
            var x = Px(p);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(x)}\" y1=\"{top}\" x2=\"{F(x)}\" y2=\"{top + plotH}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{top + plotH + 18}\" text-anchor=\"middle\">{label}</text>");
        }

        for (var v = yMin; v <= yMax * 1.001; v *= 10)
        {
            var y = Y(v);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{F(y)}\" x2=\"{left + plotW}\" y2=\"{F(y)}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{F(v)}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW / 2}\" y=\"{height - 10}\" text-anchor=\"middle\" fill=\"#555\">percentile</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{top + plotH / 2}\" fill=\"#555\" transform=\"rotate(-90 14 {top + plotH / 2})\" text-anchor=\"middle\">latency (ms, log)</text>");
        for (var i = 0; i < series.Count; i++)
        {
            var (label, points) = series[i];
            var color = Colors[i % Colors.Length];
            var path = string.Join(" ", points.Where(p => p[0] < 100).Select((p, j) => $"{(j == 0 ? "M" : "L")}{F(Px(p[0]))},{F(Y(p[1]))}"));
            sb.Append(CultureInfo.InvariantCulture, $"<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>");
            var ly = top + 16 + i * 20;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left + plotW + 12}\" y1=\"{ly - 4}\" x2=\"{left + plotW + 30}\" y2=\"{ly - 4}\" stroke=\"{color}\" stroke-width=\"3\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + plotW + 34}\" y=\"{ly}\">{Esc(label)}</text>");
        }

        return End(sb);
    }

    private static StringBuilder Begin(int width, int height, string title)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"13\">");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{Esc(title)}</text>");
        return sb;
    }

    private static string End(StringBuilder sb) => sb.Append("</svg>\n").ToString();

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
