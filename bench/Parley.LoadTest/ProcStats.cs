using System.Globalization;

namespace Parley.LoadTest;

/// <summary>CPU time and resident memory of server processes, read from <c>/proc</c> (Linux).</summary>
public static class ProcStats
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ; 100 on every Linux this runs on.

    /// <summary>CPU-seconds (user + system) used so far by <paramref name="pid"/> and, optionally, all its descendants.</summary>
    public static double CpuSeconds(int pid, bool withDescendants = false)
    {
        var total = OwnCpu(pid);
        if (withDescendants)
        {
            foreach (var child in Descendants(pid))
            {
                total += OwnCpu(child);
            }
        }

        return total;
    }

    /// <summary>CPU-seconds summed over several process trees.</summary>
    public static double CpuSeconds(IEnumerable<(int Pid, bool Tree)> processes) =>
        processes.Sum(p => CpuSeconds(p.Pid, p.Tree));

    /// <summary>Resident set size in bytes (VmRSS), 0 when the process is gone.</summary>
    public static long RssBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    /// <summary>
    /// The machine's CPU ticks since boot, all of them and those stolen by the hypervisor for other tenants of the host
    /// (<c>/proc/stat</c>, first line: the eighth value is steal).
    /// </summary>
    public static (long Total, long Steal) MachineTicks()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = fields.Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            return (values.Sum(), values.Length >= 8 ? values[7] : 0);
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidOperationException)
        {
            return (0, 0);
        }
    }

    /// <summary>
    /// Connections the kernel refused since boot because a listening socket's accept queue was full (<c>TcpExt</c>
    /// <c>ListenOverflows</c> in <c>/proc/net/netstat</c>): each such client's SYN is dropped and retried a second later.
    /// </summary>
    public static long ListenOverflows()
    {
        try
        {
            var lines = File.ReadLines("/proc/net/netstat").Where(l => l.StartsWith("TcpExt:", StringComparison.Ordinal)).Take(2).ToArray();
            if (lines.Length < 2)
            {
                return 0;
            }

            var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var i = Array.IndexOf(names, "ListenOverflows");
            return i > 0 && i < values.Length ? long.Parse(values[i], CultureInfo.InvariantCulture) : 0;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Percentage of the machine's CPU time stolen between two <see cref="MachineTicks"/> readings.</summary>
    public static double StealPercent((long Total, long Steal) before, (long Total, long Steal) after) =>
        after.Total > before.Total ? 100.0 * (after.Steal - before.Steal) / (after.Total - before.Total) : double.NaN;

    /// <summary>Whether the process exists.</summary>
    public static bool Alive(int pid) => Directory.Exists($"/proc/{pid}");

    private static double OwnCpu(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is in parentheses and may hold spaces: fields are counted after the last ')'.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // rest[0] is field 3 (state); utime is field 14, stime field 15.
            var utime = long.Parse(rest[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(rest[12], CultureInfo.InvariantCulture);
            return (utime + stime) / TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return 0;
        }
    }

    /// <summary>Every descendant of <paramref name="pid"/> (children, grandchildren, …).</summary>
    public static List<int> Descendants(int pid)
    {
        var result = new List<int>();
        var queue = new Queue<int>();
        queue.Enqueue(pid);
        while (queue.Count > 0)
        {
            var p = queue.Dequeue();
            try
            {
                foreach (var task in Directory.GetDirectories($"/proc/{p}/task"))
                {
                    var children = File.ReadAllText(Path.Combine(task, "children"));
                    foreach (var c in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var child = int.Parse(c, CultureInfo.InvariantCulture);
                        result.Add(child);
                        queue.Enqueue(child);
                    }
                }
            }
            catch (Exception e) when (e is IOException or DirectoryNotFoundException or UnauthorizedAccessException)
            {
            }
        }

        return result;
    }
}
