using System.Diagnostics;
using System.Globalization;

namespace Parley.Testing;

/// <summary>
/// A private rabbitmq-server on loopback with its own node name, ports and folders. Starting one takes seconds, so
/// tests share <see cref="Shared"/> (one per test process) and start a private one only to stop and restart it.
/// </summary>
/// <remarks>
/// Needs root and Debian's rabbitmq-server: its start script switches to the <c>rabbitmq</c> user, so every folder the
/// server writes is owned by that user, and both the server and <c>rabbitmqctl</c> use that user's Erlang cookie
/// (<c>/var/lib/rabbitmq/.erlang.cookie</c>). Erlang's port mapper (epmd) is started by the first node and left running
/// on purpose: it is shared by every Erlang node on the machine and holds nothing of ours.
/// </remarks>
public sealed class RabbitMqServer : IAsyncDisposable
{
    private const string ServerScript = "/usr/sbin/rabbitmq-server";
    private const string CtlScript = "/usr/sbin/rabbitmqctl";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private static readonly Lazy<Task<RabbitMqServer>> SharedServer = new(StartSharedAsync);

    // Stops the node politely if it runs ($1 node, $2 pid file, $3 folder), then kills whatever still carries this node's
    // name in its environment: a server still booting (no pid file yet) or one that would not stop. epmd is spared: it
    // inherits the name of the node that happened to start it, yet serves every Erlang node on the machine.
    private const string CleanupScript = """
        if [ -s "$2" ]; then
          timeout 20 /usr/sbin/rabbitmqctl -n "$1" stop "$2" >/dev/null 2>&1
        fi
        for f in $(grep -lxzF "RABBITMQ_NODENAME=$1" /proc/[0-9]*/environ 2>/dev/null); do
          p=${f#/proc/}; p=${p%/environ}
          [ "$(cat "/proc/$p/comm" 2>/dev/null)" = epmd ] || kill -9 "$p" 2>/dev/null
        done
        rm -rf "$3"
        """;

    private readonly string _dir;
    private readonly Dictionary<string, string> _env;
    private readonly ExitWatchdog _cleanup;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private ExternalProcess? _process;
    private bool _disposed;

    private RabbitMqServer()
    {
        NodeName = $"parley-{Guid.NewGuid():N}"[..19] + "@localhost";
        Port = FreePort();
        DistPort = FreePort();
        _dir = TestPorts.NewTempDir("rabbitmq");
        var mnesia = Path.Combine(_dir, "mnesia");
        var log = Path.Combine(_dir, "log");
        Directory.CreateDirectory(mnesia);
        Directory.CreateDirectory(log);
        File.WriteAllText(Path.Combine(_dir, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(_dir, "rabbitmq.conf"), """
            # Written by the Parley test fixture: a throwaway broker on loopback.
            log.console = true
            log.console.level = info
            disk_free_limit.absolute = 10MB
            """ + "\n");
        _env = new Dictionary<string, string>
        {
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = DistPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = mnesia,
            ["RABBITMQ_LOG_BASE"] = log,
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_dir, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_dir, "rabbitmq.conf"),
            ["RABBITMQ_PID_FILE"] = PidFile,
            // Erlang schedulers busy-wait for work by default, which on two shared cores takes CPU from everything
            // else (the nodes, PostgreSQL, the load generator); RabbitMQ's runtime guide advises turning it off there.
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "+sbwt none +sbwtdcpu none +sbwtdio none",
        };
        Run("chown", "-R", "rabbitmq:rabbitmq", _dir);
        _cleanup = ExitWatchdog.Start(CleanupScript, NodeName, PidFile, _dir);
    }

    /// <summary>The broker shared by every test of this process, started on first use and stopped when the process ends.</summary>
    public static Task<RabbitMqServer> Shared => SharedServer.Value;

    /// <summary>The Erlang node name, for <c>rabbitmqctl -n</c>.</summary>
    public string NodeName { get; }

    /// <summary>The AMQP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The Erlang distribution port (used by <c>rabbitmqctl</c>).</summary>
    public int DistPort { get; }

    /// <summary>The AMQP URI of the default virtual host as guest.</summary>
    public string Uri => $"amqp://guest:guest@127.0.0.1:{Port}/";

    /// <summary>True while the server process runs.</summary>
    public bool IsRunning => _process?.IsRunning == true;

    private string PidFile => Path.Combine(_dir, "rabbitmq.pid");

    /// <summary>
    /// The broker's own OS process (the Erlang VM, <c>beam.smp</c>), from the pid file RabbitMQ writes once it runs;
    /// null before that or when the file is gone. Its command line does not carry the node name, so this is how a
    /// caller tells this broker's process from any other (the benchmark reads its CPU time).
    /// </summary>
    public int? BrokerPid
    {
        get
        {
            try
            {
                return int.TryParse(File.ReadAllText(PidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>Starts a private server (the caller disposes it); throws with the server's log when it does not come up.</summary>
    public static async Task<RabbitMqServer> StartAsync()
    {
        if (!File.Exists(ServerScript))
        {
            throw new InvalidOperationException($"{ServerScript} is missing: run eng/install-deps.sh (Debian package rabbitmq-server).");
        }

        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("The RabbitMQ fixture needs root: Debian's rabbitmq-server script switches to the rabbitmq user.");
        }

        var server = new RabbitMqServer();
        try
        {
            await server.StartAgainAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private static async Task<RabbitMqServer> StartSharedAsync()
    {
        var server = await StartAsync();

        // Closing the pipe is all it takes; the watchdog does the slow part after this process is gone.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server._cleanup.Trigger();
        return server;
    }

    /// <summary>Starts the server (again) on the same ports and folders, and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (IsRunning)
            {
                throw new InvalidOperationException($"{NodeName} is already running.");
            }

            if (_process is not null)
            {
                await _process.DisposeAsync();
            }

            var process = ExternalProcess.Start(ServerScript, [], _env, _dir);
            _process = process;
            try
            {
                await TestPorts.WaitForPortAsync(Port, StartTimeout, () => process.IsRunning);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException)
            {
                throw new InvalidOperationException(
                    $"rabbitmq-server {NodeName} did not accept connections on port {Port} within {StartTimeout.TotalSeconds} s " +
                    $"({ex.Message}).\n--- output ---\n{process.Tail(40)}\n--- log ---\n{LogTail(40)}", ex);
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Stops the server politely (<c>rabbitmqctl stop</c>), killing it if it does not exit in time.</summary>
    public async Task StopAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            if (_process is null || !_process.IsRunning)
            {
                return;
            }

            try
            {
                await RabbitmqctlAsync("stop", PidFile);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                // Falls through to the kill below; the exit is what matters.
            }

            if (!await _process.WaitForExitAsync(StopTimeout))
            {
                await _process.DisposeAsync();
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>
    /// Crashes the server: SIGKILL to every process of this node (the Erlang VM and its helpers, found by the node name
    /// in their environment; epmd is spared, see the remarks), so nothing is flushed, no connection is closed politely
    /// and publishes in flight are lost. <see cref="StartAgainAsync"/> brings it back on its own folders.
    /// </summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            if (_process is null || !_process.IsRunning)
            {
                return;
            }

            var victims = ProcessesOfNode();
            if (victims.Count == 0)
            {
                throw new InvalidOperationException($"{NodeName} is running but no process carries its name");
            }

            foreach (var victim in victims)
            {
                try
                {
                    using var process = Process.GetProcessById(victim);
                    process.Kill();
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                {
                    // Already gone.
                }
            }

            if (!await _process.WaitForExitAsync(StopTimeout))
            {
                throw new InvalidOperationException($"rabbitmq-server {NodeName} survived SIGKILL");
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    // The processes whose environment names this node, epmd excepted (the cleanup script's rule, in C#).
    private List<int> ProcessesOfNode()
    {
        var marker = "RABBITMQ_NODENAME=" + NodeName;
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "environ")).Split('\0').Contains(marker, StringComparer.Ordinal)
                    && File.ReadAllText(Path.Combine(dir, "comm")).Trim() != "epmd")
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended meanwhile, or is not ours to read.
            }
        }

        return found;
    }

    /// <summary>Runs <c>rabbitmqctl -n &lt;node&gt; args…</c> and returns its standard output; throws when it fails.</summary>
    public async Task<string> RabbitmqctlAsync(params string[] args)
    {
        var (exitCode, stdout, stderr) = await ToolRunner.RunAsync(CtlScript, ["-n", NodeName, .. args], TimeSpan.FromSeconds(30));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)} exited with {exitCode}: {stderr}{stdout}");
        }

        return stdout;
    }

    /// <summary>Stops the server and removes its folders.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _lifecycle.WaitAsync();
        try
        {
            _disposed = true;
            await _cleanup.RunAsync(StopTimeout);
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private string LogTail(int lines)
    {
        var file = Path.Combine(_dir, "log", NodeName + ".log");
        if (!File.Exists(file))
        {
            return "(no log file)";
        }

        var all = File.ReadAllLines(file);
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static int FreePort()
    {
        // rabbitmqctl listens on 35672-35682 while it runs; keep the broker's ports out of its way.
        while (true)
        {
            var port = TestPorts.GetFree();
            if (port is < 35672 or > 35682)
            {
                return port;
            }
        }
    }

    private static void Run(string file, params string[] args)
    {
        var (exitCode, stdout, stderr) = ToolRunner.RunAsync(file, args, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {exitCode}: {stderr}{stdout}");
        }
    }
}
