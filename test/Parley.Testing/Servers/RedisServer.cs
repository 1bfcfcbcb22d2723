using System.Globalization;

namespace Parley.Testing;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, so a restart comes back empty. Stop, kill,
/// restart and pause it to test outages. A missing redis-server binary throws: it is never a silent skip.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);
    private ExternalProcess? _process;

    private RedisServer(string binary, int port)
    {
        Binary = binary;
        Port = port;
    }

    /// <summary>The loopback port the server listens on; it stays the same across restarts.</summary>
    public int Port { get; }

    /// <summary>"127.0.0.1:port", as presence options and the RESP client take it.</summary>
    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>True while the redis-server process runs (a paused one included).</summary>
    public bool IsRunning => _process?.IsRunning == true;

    private string Binary { get; }

    /// <summary>Starts a fresh redis-server on a free port and waits until it accepts connections.</summary>
    public static async Task<RedisServer> StartAsync()
    {
        var binary = FindBinary();
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(binary, TestPorts.GetFree());
            try
            {
                await server.LaunchAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // Another process may have taken the port between probe and bind: try another.
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>Stops the server gracefully (SIGTERM, nothing saved) and waits until it exited.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        process.Signal("CONT");
        process.Signal("TERM");
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException($"redis-server on port {Port} did not stop:\n{process.Tail()}");
        }

        await process.DisposeAsync();
        _process = null;
    }

    /// <summary>Kills the server (SIGKILL), as a crash would, and waits until it is gone.</summary>
    public void Kill()
    {
        if (_process is not { } process)
        {
            return;
        }

        process.Signal("KILL");
        if (!process.WaitForExitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult())
        {
            throw new InvalidOperationException($"redis-server on port {Port} survived SIGKILL");
        }

        process.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _process = null;
    }

    /// <summary>Stops the server (if it runs) and starts a new, empty one on the same port.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open and nothing answers.</summary>
    public void Pause() => (_process ?? throw new InvalidOperationException("redis-server is not running")).Signal("STOP");

    /// <summary>Thaws a server frozen by <see cref="Pause"/> (SIGCONT).</summary>
    public void Resume() => (_process ?? throw new InvalidOperationException("redis-server is not running")).Signal("CONT");

    /// <summary>Kills the server if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            process.Signal("CONT");
            await process.DisposeAsync();
            _process = null;
        }
    }

    private async Task LaunchAsync()
    {
        var port = Port.ToString(CultureInfo.InvariantCulture);
        var process = ExternalProcess.Start(
            Binary,
            ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]);
        try
        {
            await TestPorts.WaitForPortAsync(Port, StartTimeout, () => process.IsRunning);
            if (!process.IsRunning)
            {
                // Something else answered on the port while our server failed to bind it.
                throw new InvalidOperationException($"port {Port} is taken by another process");
            }
        }
        catch (Exception e)
        {
            var output = process.Tail();
            await process.DisposeAsync();
            throw new InvalidOperationException($"redis-server did not start on port {Port}: {e.Message}\n{output}", e);
        }

        _process = process;
    }

    private static string FindBinary()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .Append("/usr/bin/redis-server");
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "redis-server is not installed; the Redis presence tests need it (eng/install-deps.sh installs it)");
    }
}
