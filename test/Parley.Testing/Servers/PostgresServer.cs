using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Parley.Testing;

/// <summary>
/// A real PostgreSQL server for tests: its own cluster in a temporary folder, listening on 127.0.0.1 on a free port,
/// with trust authentication and <c>fsync=on</c>. As root the binaries run as the <c>postgres</c> user (they refuse
/// to run as root). Use <see cref="Shared"/> unless a test stops or kills the server.
/// </summary>
public sealed partial class PostgresServer : IAsyncDisposable
{
    private static readonly Lazy<Task<PostgresServer>> SharedServer = new(StartAsync);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // Runs the server (exec keeps its pid) beside a detached watchdog: when the test process is gone, however it
    // ended, the watchdog shuts the server down and removes its folder. Process-exit handlers cannot do this
    // reliably: a crashed or killed test host never runs them. Arguments: test pid, folder, server command line.
    private const string Watchdog = """
        owner=$1; root=$2; shift 2; server=$$
        ( (
            while [ -d /proc/$owner ] && [ -d /proc/$server ]; do sleep 1; done
            if [ -d /proc/$server ]; then
                kill -QUIT $server
                while [ -d /proc/$server ]; do sleep 0.2; done
                rm -rf "$root"
            fi
        ) </dev/null >/dev/null 2>&1 & )
        exec "$@"
        """;

    private readonly string _binDir;
    private readonly string _root;
    private readonly bool _runAsPostgres;
    private ExternalProcess? _process;
    private bool _paused;

    private PostgresServer(string binDir, string root, bool runAsPostgres, int port)
    {
        _binDir = binDir;
        _root = root;
        _runAsPostgres = runAsPostgres;
        Port = port;
    }

    /// <summary>One server for the whole test process, started on first use and shut down when the process exits.</summary>
    public static Task<PostgresServer> Shared => SharedServer.Value;

    /// <summary>The TCP port on 127.0.0.1; it stays the same across <see cref="RestartAsync"/>.</summary>
    public int Port { get; }

    /// <summary>True while the server process runs.</summary>
    public bool IsRunning => _process?.IsRunning == true;

    /// <summary>The server's latest log lines, for failure messages.</summary>
    public string LogTail => _process?.Tail(40) ?? "(not running)";

    private string DataDir => Path.Combine(_root, "data");

    private string SocketDir => Path.Combine(_root, "sock");

    /// <summary>Creates a fresh cluster in a temporary folder and starts it. Throws when PostgreSQL is not installed.</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var binDir = FindBinDir();
        var runAsPostgres = string.Equals(Environment.UserName, "root", StringComparison.Ordinal);
        var root = TestPorts.NewTempDir("pg");
        var server = new PostgresServer(binDir, root, runAsPostgres, TestPorts.GetFree());
        try
        {
            Directory.CreateDirectory(server.SocketDir);
            if (runAsPostgres)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", root], root);
            }

            // --no-sync only skips flushing the fresh template files; the running server keeps fsync=on.
            await server.RunToolAsync("initdb", ["-D", server.DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
            await server.StartProcessAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates an empty database and returns an Npgsql connection string for it.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        if (!DatabaseName().IsMatch(name))
        {
            throw new ArgumentException("database names here are 1-63 characters of [a-z0-9_], starting with a letter", nameof(name));
        }

        await using (var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false)))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await cmd.ExecuteNonQueryAsync();
        }

        return ConnectionString(name, pooling: true);
    }

    /// <summary>
    /// Creates an empty schema in an existing database and returns a connection string whose search path is that
    /// schema: an isolated place for one test's tables that costs milliseconds, where a new database costs most of a
    /// second (the template copy is WAL-logged and flushed).
    /// </summary>
    public async Task<string> CreateSchemaAsync(string database, string schema)
    {
        if (!DatabaseName().IsMatch(schema) || !DatabaseName().IsMatch(database))
        {
            throw new ArgumentException("schema and database names here are 1-63 characters of [a-z0-9_], starting with a letter");
        }

        await using (var connection = new NpgsqlConnection(ConnectionString(database, pooling: false)))
        {
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            await cmd.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ConnectionString(database)) { SearchPath = schema }.ConnectionString;
    }

    /// <summary>A connection string for <paramref name="database"/> on this server.</summary>
    public string ConnectionString(string database, bool pooling = true) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        Pooling = pooling,
    }.ConnectionString;

    /// <summary>Shuts the server down cleanly (fast mode: open sessions are ended) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (_process.IsRunning)
        {
            await RunToolAsync("pg_ctl", ["stop", "-D", DataDir, "-m", "fast", "-w", "-t", "30"]);
            if (!await _process.WaitForExitAsync(TimeSpan.FromSeconds(15)))
            {
                throw new InvalidOperationException($"PostgreSQL on port {Port} did not exit after pg_ctl stop:\n{LogTail}");
            }
        }

        await _process.DisposeAsync();
        _process = null;
    }

    /// <summary>Starts the server again on the same port and data, stopping it first if it runs.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartProcessAsync();
    }

    /// <summary>Kills the server and every backend at once (SIGKILL), like a crash; <see cref="RestartAsync"/> recovers it.</summary>
    public void Kill()
    {
        if (_process is null)
        {
            return;
        }

        // The server's tree is the postmaster and its direct children. Process.Kill(entireProcessTree) would find
        // them by scanning every process on the machine, which takes seconds on a busy host.
        var postmaster = PostmasterPid();
        int[] victims = postmaster is int pid ? [pid, .. ChildrenOf(pid)] : [_process.Pid];
        foreach (var victim in victims)
        {
            try
            {
                using var process = Process.GetProcessById(victim);
                process.Kill();
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
            catch (InvalidOperationException)
            {
                // Exited between the look-up and the kill.
            }
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_process.IsRunning && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(10);
        }
    }

    /// <summary>
    /// Freezes the postmaster and every backend (SIGSTOP), like a hung host or a partition: connections stay open and
    /// nothing answers. <see cref="Resume"/> thaws them.
    /// </summary>
    public void Pause()
    {
        SignalAll("STOP");
        _paused = true;
    }

    /// <summary>Thaws a server frozen by <see cref="Pause"/> (SIGCONT); does nothing when it is not frozen.</summary>
    public void Resume()
    {
        if (_paused)
        {
            // The wrappers above the postmaster (runuser, the watchdog shell) may have stopped themselves when their
            // child stopped, as su-like tools do: thaw the whole tree, or a later stop would wait for them forever.
            SignalTree("CONT");
            _paused = false;
        }
    }

    /// <summary>Stops the server and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
            Kill();
        }

        DeleteFolder();
    }

    private void SignalTree(string signal)
    {
        var root = _process ?? throw new InvalidOperationException($"PostgreSQL on port {Port} is not running");
        var all = new List<int>();
        var next = new Queue<int>([root.Pid]);
        while (next.Count > 0 && all.Count < 1000)
        {
            var pid = next.Dequeue();
            all.Add(pid);
            foreach (var child in ChildrenOf(pid))
            {
                next.Enqueue(child);
            }
        }

        Signal(signal, all);
    }

    private static void Signal(string signal, IEnumerable<int> pids)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, .. pids.Select(p => p.ToString(CultureInfo.InvariantCulture))]) { UseShellExecute = false });
        kill?.WaitForExit();
    }

    private void SignalAll(string signal)
    {
        var postmaster = PostmasterPid() ?? throw new InvalidOperationException($"PostgreSQL on port {Port} is not running");
        foreach (var pid in new[] { postmaster }.Concat(ChildrenOf(postmaster)))
        {
            using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
            kill?.WaitForExit();
        }
    }

    private async Task StartProcessAsync()
    {
        // A server killed a moment ago may still hold its shared memory; a second attempt then succeeds.
        for (var attempt = 1; ; attempt++)
        {
            string[] server =
            [
                Path.Combine(_binDir, "postgres"), "-D", DataDir, "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", SocketDir,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "max_connections=300", "-c", "log_line_prefix=%m ", "-c", "log_checkpoints=on",
            ];
            string[] wrapped = ["sh", "-c", Watchdog, "pg-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), _root, .. server];
            _process = _runAsPostgres
                ? ExternalProcess.Start("runuser", ["-u", "postgres", "--", .. wrapped], workingDir: _root)
                : ExternalProcess.Start(wrapped[0], wrapped[1..], workingDir: _root);
            try
            {
                await TestPorts.WaitForPortAsync(Port, StartTimeout, () => _process.IsRunning);
                await WaitUntilAcceptingQueriesAsync();
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && !_process.IsRunning)
            {
                await _process.DisposeAsync();
                await Task.Delay(500);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"PostgreSQL did not start on port {Port}: {e.Message}\n{_process.Tail()}", e);
            }
        }
    }

    private async Task WaitUntilAcceptingQueriesAsync()
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString("postgres", pooling: false));
                await connection.OpenAsync();
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.CannotConnectNow && DateTime.UtcNow < deadline)
            {
                // Still starting up or recovering after a crash.
                await Task.Delay(50);
            }
        }
    }

    private Task RunToolAsync(string tool, IReadOnlyList<string> args) =>
        _runAsPostgres
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_binDir, tool), .. args], _root)
            : RunAsync(Path.Combine(_binDir, tool), args, _root);

    private static async Task RunAsync(string fileName, IReadOnlyList<string> args, string workingDir)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDir,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{fileName} {string.Join(' ', args)} failed with exit code {process.ExitCode}:\n{await stdout}\n{await stderr}");
        }
    }

    private static string FindBinDir()
    {
        static bool Complete(string dir) =>
            File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "postgres")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = Path.Combine(dir, "initdb");
            if (!File.Exists(initdb))
            {
                continue;
            }

            // PATH often holds symlinks (e.g. /usr/local/bin); the real folder holds postgres and pg_ctl beside initdb.
            var real = File.ResolveLinkTarget(initdb, returnFinalTarget: true)?.FullName ?? initdb;
            var realDir = Path.GetDirectoryName(real)!;
            if (Complete(realDir))
            {
                return realDir;
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var newest = Directory.GetDirectories(debianRoot)
                .Select(d => Path.Combine(d, "bin"))
                .Where(Complete)
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, postgres, pg_ctl) were found neither on PATH nor under /usr/lib/postgresql/*/bin. " +
            "Install them (Debian: apt-get install postgresql) to run the PostgreSQL tests.");
    }

    private int? PostmasterPid()
    {
        try
        {
            var firstLine = File.ReadLines(Path.Combine(DataDir, "postmaster.pid")).FirstOrDefault();
            return int.TryParse(firstLine, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static IEnumerable<int> ChildrenOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/task/{pid}/children")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture))
                .ToList();
        }
        catch (IOException)
        {
            // Without the children list the backends still exit on their own once they see the postmaster die.
            return [];
        }
    }

    private void DeleteFolder()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex("^[a-z][a-z0-9_]{0,62}$")]
    private static partial Regex DatabaseName();
}
