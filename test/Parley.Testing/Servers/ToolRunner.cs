using System.Diagnostics;

namespace Parley.Testing;

/// <summary>Runs a short-lived tool and captures its output.</summary>
public static class ToolRunner
{
    /// <summary>Runs <paramref name="file"/> with arguments (and extra environment); kills it after <paramref name="timeout"/>.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string?>? env = null, string? workingDir = null)
    {
        var psi = ProcessStarts.Create(file, args, env, workingDir);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>How fixtures start processes: output redirected, arguments passed as a list, no shell.</summary>
internal static class ProcessStarts
{
    /// <summary>
    /// Start info for <paramref name="file"/> with <paramref name="args"/>, in <paramref name="workingDir"/> when given;
    /// each of <paramref name="env"/> is set, or removed from the inherited environment when its value is null.
    /// </summary>
    public static ProcessStartInfo Create(string file, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string?>>? env, string? workingDir)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDir is not null)
        {
            psi.WorkingDirectory = workingDir;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? [])
        {
            if (v is null)
            {
                psi.Environment.Remove(k);
            }
            else
            {
                psi.Environment[k] = v;
            }
        }

        return psi;
    }
}

/// <summary>
/// A <c>sh -c</c> prelude that execs a server (so its pid is the server's) beside a detached watcher that stops the
/// server once the test process is gone, however the test process ended: SIGTERM first (nginx's workers follow their
/// master only then), SIGKILL 5 s later. Arguments: owner pid, then the command line.
/// </summary>
internal static class OwnerWatchdog
{
    public const string Script = """
        owner=$1; shift; server=$$
        ( (
            while [ -d /proc/$owner ] && [ -d /proc/$server ]; do sleep 1; done
            if [ -d /proc/$server ]; then
                kill -CONT $server; kill -TERM $server; sleep 5; kill -KILL $server
            fi
        ) </dev/null >/dev/null 2>&1 & )
        exec "$@"
        """;
}
