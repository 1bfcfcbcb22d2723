using System.Diagnostics;

namespace Parley.Testing;

/// <summary>
/// Runs a cleanup shell script once this test process is done with a server, however it ends: the script starts at
/// once in its own session, blocks reading a pipe from this process, and proceeds when the pipe closes — on
/// <see cref="Trigger"/>, at normal exit, or when the test host is killed (the test runner gives it only ~100 ms to exit,
/// too little to stop a broker politely from inside the process).
/// </summary>
public sealed class ExitWatchdog
{
    private readonly Process _process;

    private ExitWatchdog(Process process) => _process = process;

    /// <summary>Starts <paramref name="script"/> (POSIX sh) with positional arguments; it runs after the trigger.</summary>
    public static ExitWatchdog Start(string script, params string[] args)
    {
        // `cat` returns at end of input, i.e. when the last writer of the pipe (this process) is gone. Signals from the
        // terminal are ignored so that a Ctrl-C of the test run still ends with the cleanup.
        var psi = new ProcessStartInfo("setsid")
        {
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-w", "sh", "-c", "trap '' INT TERM HUP; cat >/dev/null; " + script, "parley-watchdog" }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the cleanup watchdog (setsid sh)");
        return new ExitWatchdog(process);
    }

    /// <summary>Starts the cleanup now. Idempotent.</summary>
    public void Trigger()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Starts the cleanup and waits for it to finish, up to <paramref name="timeout"/>; true when it did.</summary>
    public async Task<bool> RunAsync(TimeSpan timeout)
    {
        Trigger();
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
}
