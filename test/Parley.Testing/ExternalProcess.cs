using System.Diagnostics;
using System.Text;

namespace Parley.Testing;

/// <summary>
/// A child process started by a fixture: its output is kept (the last lines go into failure messages), and it is
/// killed, with its whole process tree, on dispose.
/// </summary>
public sealed class ExternalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ExternalProcess(Process process) => _process = process;

    /// <summary>The process's standard input (when started with openStdin).</summary>
    public StreamWriter StandardInput => _process.StandardInput;

    /// <summary>The OS process id.</summary>
    public int Pid => _process.Id;

    /// <summary>True while the process runs.</summary>
    public bool IsRunning
    {
        get
        {
            try
            {
                return !_process.HasExited;
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }
    }

    /// <summary>Everything the process printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with arguments and extra environment variables.</summary>
    /// <remarks>With <paramref name="openStdin"/>, standard input is a pipe kept open (see <see cref="StandardInput"/>).</remarks>
    public static ExternalProcess Start(string fileName, IEnumerable<string> args, IDictionary<string, string>? env = null, string? workingDir = null, bool openStdin = false)
    {
        var psi = ProcessStarts.Create(fileName, args, env?.Select(e => new KeyValuePair<string, string?>(e.Key, e.Value)), workingDir);
        psi.RedirectStandardInput = openStdin;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var ext = new ExternalProcess(process);
        process.OutputDataReceived += (_, e) => ext.Append(e.Data);
        process.ErrorDataReceived += (_, e) => ext.Append(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {fileName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return ext;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length > 1_000_000)
            {
                _log.Remove(0, 500_000);
            }

            _log.AppendLine(line);
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of output, for failure messages.</summary>
    public string Tail(int lines = 30)
    {
        var all = Output.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Sends a signal (e.g. "STOP", "CONT", "TERM", "KILL") to the process.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false });
        kill?.WaitForExit();
    }

    /// <summary>Waits for the process to exit, up to <paramref name="timeout"/>; true when it did.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills the process tree if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (IsRunning)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }
}
