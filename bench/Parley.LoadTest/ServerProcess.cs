using System.Diagnostics;

namespace Parley.LoadTest;

/// <summary>A chat server process started by the orchestrator, its output in a log file.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, string log)
    {
        _process = process;
        LogFile = log;
    }

    public int Pid => _process.Id;

    public string LogFile { get; }

    public bool IsRunning => !_process.HasExited;

    public static ServerProcess Start(string file, IEnumerable<string> args, string logFile, IDictionary<string, string>? env = null, string? workingDir = null)
    {
        // exec keeps the pid: /proc/<pid> is the server itself, for CPU and RSS.
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false, WorkingDirectory = workingDir ?? Environment.CurrentDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" >>\"$LOADTEST_LOG\" 2>&1");
        psi.ArgumentList.Add("server");
        psi.ArgumentList.Add(file);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LOADTEST_LOG"] = logFile;
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        return new ServerProcess(Process.Start(psi)!, logFile);
    }

    /// <summary>Polls <paramref name="url"/> until it answers 200.</summary>
    public async Task WaitHttpAsync(HttpClient http, string url, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"server exited during start; see {LogFile}:\n{Tail()}");
            }

            try
            {
                using var r = await http.GetAsync(url);
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} did not answer; see {LogFile}:\n{Tail()}");
            }

            await Task.Delay(100);
        }
    }

    public string Tail()
    {
        try
        {
            return string.Join('\n', File.ReadLines(LogFile).TakeLast(20));
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>SIGTERM, then SIGKILL after a grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }

        _process.Dispose();
    }
}
