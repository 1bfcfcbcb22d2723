using System.Globalization;
using System.Net;

namespace Parley.Testing.Cluster;

/// <summary>
/// One Parley node of a <see cref="ParleyCluster"/>, run as its own process (<c>dotnet Parley.Server.dll</c>) so that it
/// can be killed, terminated, frozen and restarted like a real server. Its port and node id survive restarts.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private readonly IReadOnlyList<string> _args;
    private readonly IDictionary<string, string> _env;
    private readonly HttpClient _http;
    private readonly List<string> _previousLogs = [];
    private ExternalProcess? _process;

    internal ClusterNode(string id, int port, IReadOnlyList<string> args, IDictionary<string, string> env)
    {
        Id = id;
        Port = port;
        _args = args;
        _env = env;
        _http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(5) };
        Api = new ApiClient(BaseUri);
    }

    /// <summary>The node id (<c>Parley:NodeId</c>): the queue name suffix on RabbitMQ and the <c>node</c> of messages it accepts.</summary>
    public string Id { get; }

    /// <summary>The loopback port the node listens on.</summary>
    public int Port { get; }

    /// <summary>The node's own base address (bypassing nginx).</summary>
    public Uri BaseUri => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>The node's own WebSocket endpoint (bypassing nginx).</summary>
    public Uri WsUri => new($"ws://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/ws");

    /// <summary>A REST client talking to this node directly.</summary>
    public ApiClient Api { get; }

    /// <summary>The RabbitMQ queue this node owns.</summary>
    public string QueueName => "parley.node." + Id;

    /// <summary>The OS process id of the running node.</summary>
    public int Pid => _process?.Pid ?? throw new InvalidOperationException($"{Id} is not running");

    /// <summary>True while the node process runs (a frozen one included).</summary>
    public bool IsRunning => _process?.IsRunning == true;

    /// <summary>Everything this node printed, over all its runs (earlier runs first).</summary>
    public string Log => string.Join("\n", _previousLogs.Append(_process?.Output ?? ""));

    /// <summary>The last lines the node printed, for failure messages.</summary>
    public string LogTail(int lines = 40) => $"--- {Id} (port {Port}, {(IsRunning ? "running" : "stopped")}) ---\n" + (_process?.Tail(lines) ?? "(not running)");

    /// <summary>
    /// Sets (or, with null, removes) an environment variable of the node's process from its next start on: e.g.
    /// <c>LD_PRELOAD</c> and <c>FAKETIME</c> to run it with a skewed clock.
    /// </summary>
    public void SetEnvironment(string name, string? value)
    {
        if (value is null)
        {
            _env.Remove(name);
        }
        else
        {
            _env[name] = value;
        }
    }

    /// <summary>Starts the node process and waits until <c>/readyz</c> answers 200; throws with its log otherwise.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Id} is already running");
        }

        await ForgetProcessAsync();
        var dll = Path.Combine(AppContext.BaseDirectory, "Parley.Server.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: the test project must reference Parley.Testing (which references Parley.Server)");
        }

        _process = ExternalProcess.Start(
            "sh",
            ["-c", OwnerWatchdog.Script, "node-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), "dotnet", dll, .. _args],
            _env,
            workingDir: AppContext.BaseDirectory);
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            if (!_process.IsRunning)
            {
                throw new InvalidOperationException($"{Id} exited during start-up:\n{LogTail()}");
            }

            if (await ReadyzAsync() == HttpStatusCode.OK)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Id} was not ready within {ReadyTimeout.TotalSeconds} s:\n{LogTail()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary><c>GET /readyz</c> on this node: the status, or null when nothing answered.</summary>
    public async Task<HttpStatusCode?> ReadyzAsync()
    {
        try
        {
            using var response = await _http.GetAsync(new Uri("readyz", UriKind.Relative));
            return response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Waits until <c>/readyz</c> answers <paramref name="expected"/>; throws with the node's log after <paramref name="timeout"/>.</summary>
    public async Task WaitReadyzAsync(HttpStatusCode expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        HttpStatusCode? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await ReadyzAsync();
            if (last == expected)
            {
                return;
            }

            await Task.Delay(100);
        }

        string detail;
        try
        {
            using var response = await _http.GetAsync(new Uri("readyz", UriKind.Relative));
            detail = await response.Content.ReadAsStringAsync();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            detail = e.Message;
        }

        throw new TimeoutException($"{Id}: /readyz answered {last?.ToString() ?? "nothing"} ({detail}), not {expected}, for {timeout.TotalSeconds} s\n{LogTail()}");
    }

    /// <summary>Kills the node with SIGKILL, like a crash, and waits until the process is gone.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException($"{Id} is not running");
        process.Signal("KILL");
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException($"{Id} survived SIGKILL");
        }
    }

    /// <summary>Sends SIGTERM (graceful drain: sockets close with 1012) and waits up to <paramref name="timeout"/> for the exit.</summary>
    public async Task TerminateAsync(TimeSpan? timeout = null)
    {
        var process = _process ?? throw new InvalidOperationException($"{Id} is not running");
        process.Signal("CONT");
        process.Signal("TERM");
        var wait = timeout ?? TimeSpan.FromSeconds(20);
        if (!await process.WaitForExitAsync(wait))
        {
            throw new TimeoutException($"{Id} did not exit within {wait.TotalSeconds} s of SIGTERM:\n{LogTail()}");
        }
    }

    /// <summary>Freezes the node (SIGSTOP): its sockets stay open and nothing answers.</summary>
    public void Pause() => (_process ?? throw new InvalidOperationException($"{Id} is not running")).Signal("STOP");

    /// <summary>Thaws a node frozen by <see cref="Pause"/> (SIGCONT).</summary>
    public void Resume() => (_process ?? throw new InvalidOperationException($"{Id} is not running")).Signal("CONT");

    /// <summary>Starts the node again if it is not running (after a kill or terminate); a running node is left alone.</summary>
    public async Task EnsureRunningAsync()
    {
        if (IsRunning)
        {
            Resume();
            return;
        }

        await StartAsync();
    }

    /// <summary>Kills the node (if it runs) and starts it again on the same port with the same id.</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            await KillAsync();
        }

        await StartAsync();
    }

    /// <summary>Kills the node if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is { IsRunning: true } process)
        {
            process.Signal("CONT");
        }

        await ForgetProcessAsync();
        _http.Dispose();
        Api.Dispose();
    }

    private async Task ForgetProcessAsync()
    {
        if (_process is { } old)
        {
            _previousLogs.Add(old.Output);
            await old.DisposeAsync();
            _process = null;
        }
    }
}
